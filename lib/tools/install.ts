import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { toolsCacheDir } from '../core/paths.ts'
import { tryDownload } from './build/download.ts'
import { selectTools, type Tool, toolDir, toolLogFile } from './catalogue.ts'
import { checkAll, isComplete } from './check.ts'
import { defaultToolDeps, type ToolDeps } from './deps.ts'
import { type Job, StepFailed } from './job.ts'
import { type Recipe, recipeOf } from './recipes.ts'
import { readSource, type ToolSource, writeSource } from './source.ts'

/**
 * Installing: a complete cache folder is taken as is; otherwise PATH at the pinned version, then the
 * official release, then the registries (Go module proxy, PyPI, Debian). Each install is staged and
 * moved into place only when complete, with its whole output in a log.
 */

export interface EnsureOptions {
  deps?: Partial<ToolDeps>
  /** Skip the release-download probe (straight to the registry route). */
  offline?: boolean
  /** Rebuild even when the cache folder is complete. */
  force?: boolean
}

export interface EnsureResult {
  name: string
  version: string
  dir: string
  /** `cached`: nothing was done. */
  action: 'cached' | 'installed'
  source: ToolSource
  seconds: number
}

/**
 * Makes every named tool (all by default) available in its cache folder. Idempotent: a complete
 * folder is taken as is. Tries each tool even after another failed, then throws for the failures.
 */
export async function ensureTools(names?: string[], options: EnsureOptions = {}): Promise<EnsureResult[]> {
  const deps = { ...defaultToolDeps(), ...options.deps }
  const unreachable = new Set<string>()
  if (options.offline) unreachable.add('*')
  const results: EnsureResult[] = []
  const failures: BootstrapError[] = []
  for (const tool of [...new Set(selectTools(names))]) {
    try {
      results.push(await ensureTool(tool, deps, unreachable, options.force === true))
    } catch (error) {
      const failure =
        error instanceof BootstrapError
          ? error
          : new BootstrapError(`${tool.name} ${tool.version}: ${error}`, { cause: error })
      deps.log(`[tools] ${tool.name} ${tool.version}: FAILED`)
      failures.push(failure)
    }
  }
  if (failures.length === 1 && failures[0]) throw failures[0]
  if (failures.length > 1) {
    throw new BootstrapError(
      `${failures.length} tools could not be installed:\n\n${failures.map((f) => f.message).join('\n\n')}`,
      {
        hint: failures
          .map((f) => f.hint)
          .filter(Boolean)
          .join('\n'),
      },
    )
  }
  return results
}

async function ensureTool(
  tool: Tool,
  deps: ToolDeps,
  unreachable: Set<string>,
  force: boolean,
): Promise<EnsureResult> {
  const dir = toolDir(tool, deps.env)
  const label = `[tools] ${tool.name} ${tool.version}`
  const recipe = recipeOf(tool)
  const start = deps.now()

  if (!force && isComplete(tool, dir)) {
    const record = readSource(dir)
    if (record) {
      deps.log(`${label}: cached`)
      return {
        name: tool.name,
        version: tool.version,
        dir,
        action: 'cached',
        source: record.source,
        seconds: 0,
      }
    }
    // A complete folder nobody recorded (made by hand or an older script): keep it if it really is the pinned version.
    const check = await checkAll(tool, dir, deps)
    if (check.ok) {
      writeSource(
        dir,
        {
          source: 'adopted',
          seconds: 0,
          detail: 'found complete in the cache without source.json; version checked',
        },
        tool,
        deps,
      )
      deps.log(`${label}: cached (adopted, version checked)`)
      return { name: tool.name, version: tool.version, dir, action: 'cached', source: 'adopted', seconds: 0 }
    }
    const said = Object.values(check.checks).find((c) => !c.ok)?.found
    deps.log(`${label}: cache folder holds another version (${said ?? 'unreadable'}), replacing it`)
  }

  const cache = toolsCacheDir(deps.env)
  mkdirSync(join(cache, 'logs'), { recursive: true })
  mkdirSync(join(cache, '.staging'), { recursive: true })
  const stage = join(
    cache,
    '.staging',
    `${tool.name}-${tool.version}-${process.pid}-${randomBytes(3).toString('hex')}`,
  )
  mkdirSync(stage)
  const work = mkdtempSync(join(tmpdir(), `platform-tool-${tool.name}-`))
  const logFile = toolLogFile(tool, deps.env)
  writeFileSync(logFile, `# ${tool.name} ${tool.version}, ${new Date(deps.now()).toISOString()}\n`)
  const job: Job = { tool, deps, stage, work, logFile }

  try {
    const installed = await install(job, recipe, unreachable, label)
    const seconds = Math.round((deps.now() - start) / 100) / 10
    if (!isComplete(tool, stage)) {
      const lacking = [...tool.binaries, ...(recipe.files ?? [])].filter((f) => !existsSync(join(stage, f)))
      throw new StepFailed(`install finished without ${lacking.join(', ')}`, 1)
    }
    writeSource(stage, { ...installed, seconds }, tool, deps)
    publish(stage, dir, cache)
    deps.log(`${label}: done in ${Math.round(seconds)} s (${installed.source})`)
    return {
      name: tool.name,
      version: tool.version,
      dir,
      action: 'installed',
      source: installed.source,
      seconds,
    }
  } catch (error) {
    if (error instanceof BootstrapError) throw error
    throw buildFailure(tool, error, logFile)
  } finally {
    rmSync(stage, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  }
}

async function install(
  job: Job,
  recipe: Recipe,
  unreachable: Set<string>,
  label: string,
): Promise<{ source: ToolSource; detail: string; from?: Record<string, string> }> {
  const { tool, deps } = job
  // (b) PATH, at the pinned version.
  const onPath = await checkAll(tool, undefined, deps)
  if (onPath.ok) {
    const from = Object.fromEntries(Object.entries(onPath.checks).map(([bin, check]) => [bin, check.file]))
    try {
      for (const [bin, file] of Object.entries(from)) symlinkSync(file, join(job.stage, bin))
      await recipe.extras?.(job, job.stage)
      deps.log(`${label}: found on PATH at the pinned version (${Object.values(from).join(', ')})`)
      return { source: 'path', detail: 'linked to binaries found on PATH', from }
    } catch (error) {
      deps.log(
        `${label}: on PATH, but its extra files could not be fetched (${(error as Error).message}); installing`,
      )
      rmSync(job.stage, { recursive: true, force: true })
      mkdirSync(job.stage)
    }
  } else if (onPath.wrong) {
    const check = onPath.checks[onPath.wrong]
    deps.log(
      `${label}: ${onPath.wrong} on PATH (${check?.file}) says ${check?.found}, not ${tool.version}: not used`,
    )
  }
  // (c) The official release, when its host answers.
  if (!unreachable.has('*')) {
    const downloaded = await tryDownload(job, unreachable)
    if (downloaded) return { source: 'download', detail: downloaded }
  }
  // (d) The registries this machine reaches: Go module proxy, PyPI, Debian.
  deps.log(`${label}: ${recipe.build.note}…`)
  const detail = await recipe.build.run(job)
  return { source: recipe.build.via, detail }
}

/** Moves a finished staging folder into place with renames only, so no reader ever sees half a tool. */
function publish(stage: string, dir: string, cache: string): void {
  mkdirSync(resolve(dir, '..'), { recursive: true })
  let old: string | undefined
  if (existsSync(dir)) {
    old = join(cache, '.staging', `old-${basename(resolve(dir, '..'))}-${randomBytes(3).toString('hex')}`)
    renameSync(dir, old)
  }
  renameSync(stage, dir)
  if (old) rmSync(old, { recursive: true, force: true })
}

const LOG_TAIL_LINES = 20

function buildFailure(tool: Tool, error: unknown, logFile: string): BootstrapError {
  let log = ''
  try {
    log = readFileSync(logFile, 'utf8')
  } catch {}
  const tail = log
    .split('\n')
    .filter((line) => line.trim())
    .slice(-LOG_TAIL_LINES)
    .map((line) => `    ${line}`)
    .join('\n')
  const why = error instanceof StepFailed ? `${error.step} exited ${error.exitCode}` : String(error)
  const hint =
    error instanceof StepFailed && error.exitCode === 127
      ? `a command it needs is not installed (see the log); full log: ${logFile}`
      : `full log: ${logFile}. Is the registry reachable (Go module proxy, PyPI, Debian)? A version the Go proxy refuses (403) is final: pin another in lib/core/versions.ts. Then run \`just tools ${tool.name}\` again`
  return new BootstrapError(
    `${tool.name} ${tool.version} could not be installed: ${why}\n  last lines of its log:\n${tail}`,
    {
      hint,
      cause: error,
    },
  )
}
