import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Tool } from './catalogue.ts'
import type { ToolDeps } from './deps.ts'

/** A tool folder's source.json: how it came to be, read back by the cache check and by doctor. */

/** How a tool folder came to be: written to its source.json. */
export type ToolSource = 'go-build' | 'pypi' | 'apt' | 'path' | 'download' | 'adopted'

export interface SourceRecord {
  tool: string
  version: string
  source: ToolSource
  seconds: number
  installedAt: string
  detail?: string
  /** PATH finds: the binaries the folder links to. */
  from?: Record<string, string>
}

export function readSource(dir: string): SourceRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')) as SourceRecord
  } catch {
    return undefined
  }
}

export function writeSource(
  dir: string,
  record: Pick<SourceRecord, 'source' | 'seconds' | 'detail' | 'from'>,
  tool: Tool,
  deps: ToolDeps,
): void {
  const full: SourceRecord = {
    tool: tool.name,
    version: tool.version,
    ...record,
    installedAt: new Date(deps.now()).toISOString(),
  }
  writeFileSync(join(dir, 'source.json'), `${JSON.stringify(full, null, 2)}\n`)
}
