import { toolDir, tools } from './catalogue.ts'
import { checkAll, isComplete } from './check.ts'
import { defaultToolDeps, type ToolDeps } from './deps.ts'
import { recipeOf } from './recipes.ts'
import { readSource, type ToolSource } from './source.ts'

/** Per tool, what this machine has right now: for doctor. */

export interface ToolStatus {
  name: string
  version: string
  /** `cache (<how>)` is spelled source + cached: true. */
  source: ToolSource | 'missing'
  cached: boolean
  /** The tool folder, or the first binary found on PATH. */
  path?: string
  /** What the binaries say about their version (first binary that disagrees, else the first). */
  found?: string
  ok: boolean
  optional?: string
}

/** Per tool: where it would come from right now and whether it is the pinned version. For doctor. */
export async function toolStatus(options: { deps?: Partial<ToolDeps> } = {}): Promise<ToolStatus[]> {
  const deps = { ...defaultToolDeps(), ...options.deps }
  const statuses: ToolStatus[] = []
  for (const tool of tools) {
    const dir = toolDir(tool, deps.env)
    const base = { name: tool.name, version: tool.version, optional: tool.optional }
    if (isComplete(tool, dir)) {
      const check = await checkAll(tool, dir, deps)
      const record = readSource(dir)
      const found = (check.wrong ? check.checks[check.wrong] : Object.values(check.checks)[0])?.found
      statuses.push({
        ...base,
        source: record?.source ?? 'adopted',
        cached: true,
        path: dir,
        found,
        ok: check.ok,
      })
      continue
    }
    const onPath = await checkAll(tool, undefined, deps)
    const first = Object.values(onPath.checks)[0]
    if (!first) {
      statuses.push({ ...base, source: 'missing', cached: false, ok: false })
      continue
    }
    const found = ((onPath.wrong && onPath.checks[onPath.wrong]) || first).found
    const ok = onPath.ok && (recipeOf(tool).files ?? []).length === 0
    statuses.push({ ...base, source: 'path', cached: false, path: first.file, found, ok })
  }
  return statuses
}
