import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { BootstrapError } from '../../../core/errors.ts'
import type { Job } from '../../job.ts'
import { StepFailed } from '../../job.ts'
import { type KindImagesContext, log } from '../context.ts'
import { hashOf } from '../recipe.ts'
import { unmountUnder } from './mounts.ts'

/**
 * One cached piece of the offline kind images (a Debian root, a set of binaries, the component
 * image archives): built in a staging folder with its whole output in a log, moved into
 * `<kind-images>/parts/<name>-<version>-<hash>` when complete, and taken as is on the next run.
 */

export interface Part {
  name: string
  version: string
  /** Whatever else changes the output (package lists, source files): hashed into the folder name. */
  inputs?: unknown
  /** Files a complete folder holds. */
  files: string[]
  /** Shown while it builds, e.g. "go build (~2 min cold)". */
  note: string
  build: (job: Job) => Promise<string>
}

export interface PartResult {
  name: string
  version: string
  dir: string
  action: 'cached' | 'built'
  seconds: number
  detail: string
}

interface PartRecord {
  part: string
  version: string
  detail: string
  seconds: number
  builtAt: string
}

export function partDir(ctx: KindImagesContext, part: Pick<Part, 'name' | 'version' | 'inputs'>): string {
  return join(
    ctx.root,
    'parts',
    `${part.name}-${part.version}-${hashOf({ v: part.version, i: part.inputs }, 8)}`,
  )
}

export function partLogFile(ctx: KindImagesContext, part: Pick<Part, 'name' | 'version'>): string {
  return join(ctx.cache, 'logs', `kind-images-${part.name}-${part.version}.log`)
}

function readRecord(dir: string): PartRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')) as PartRecord
  } catch {
    return undefined
  }
}

export function isPartComplete(dir: string, files: string[]): boolean {
  return readRecord(dir) !== undefined && files.every((file) => existsSync(join(dir, file)))
}

export async function ensurePart(ctx: KindImagesContext, part: Part): Promise<PartResult> {
  const dir = partDir(ctx, part)
  const label = `${part.name} ${part.version}`
  const base = { name: part.name, version: part.version, dir }
  const record = readRecord(dir)
  if (!ctx.force && record && isPartComplete(dir, part.files)) {
    log(ctx, `${label}: cached`)
    return { ...base, action: 'cached', seconds: 0, detail: record.detail }
  }
  const { job, close } = openJob(ctx, part.name, part.version)
  const { stage, logFile } = job
  const start = ctx.deps.now()
  log(ctx, `${label}: ${part.note}…`)
  try {
    const detail = await part.build(job)
    const lacking = part.files.filter((file) => !existsSync(join(stage, file)))
    if (lacking.length > 0) throw new StepFailed(`build finished without ${lacking.join(', ')}`, 1)
    const seconds = Math.round((ctx.deps.now() - start) / 100) / 10
    const done: PartRecord = {
      part: part.name,
      version: part.version,
      detail,
      seconds,
      builtAt: new Date(ctx.deps.now()).toISOString(),
    }
    writeFileSync(join(stage, 'source.json'), `${JSON.stringify(done, null, 2)}\n`)
    publish(stage, dir, ctx.cache)
    log(ctx, `${label}: done in ${Math.round(seconds)} s`)
    return { ...base, action: 'built', seconds, detail }
  } catch (error) {
    throw partFailure(label, error, logFile)
  } finally {
    await close()
  }
}

/** A job for work that is not a part (an image in the engine): its log, scratch and staging folders. */
export function openJob(
  ctx: KindImagesContext,
  name: string,
  version: string,
): { job: Job; close: () => Promise<void> } {
  mkdirSync(join(ctx.cache, 'logs'), { recursive: true })
  mkdirSync(join(ctx.cache, '.staging'), { recursive: true })
  const stage = join(
    ctx.cache,
    '.staging',
    `kind-${name}-${version}-${process.pid}-${randomBytes(3).toString('hex')}`,
  )
  mkdirSync(stage)
  const work = mkdtempSync(join(tmpdir(), `platform-kind-${name}-`))
  const logFile = partLogFile(ctx, { name, version })
  writeFileSync(logFile, `# kind-images ${name} ${version}, ${new Date(ctx.deps.now()).toISOString()}\n`)
  const job: Job = {
    tool: { name: `kind-${name}`, version, binaries: [] },
    deps: ctx.deps,
    stage,
    work,
    logFile,
  }
  const close = async () => {
    await unmountUnder(ctx.deps, work)
    rmSync(stage, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  }
  return { job, close }
}

/** Renames only, so no reader ever sees half a part. */
export function publish(stage: string, dir: string, cache: string): void {
  mkdirSync(join(dir, '..'), { recursive: true })
  let old: string | undefined
  if (existsSync(dir)) {
    old = join(cache, '.staging', `old-kind-${basename(dir)}-${randomBytes(3).toString('hex')}`)
    renameSync(dir, old)
  }
  renameSync(stage, dir)
  if (old) rmSync(old, { recursive: true, force: true })
}

const LOG_TAIL_LINES = 15

export function partFailure(label: string, error: unknown, logFile: string): BootstrapError {
  if (error instanceof BootstrapError) return error
  let tail = ''
  try {
    tail = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .slice(-LOG_TAIL_LINES)
      .map((line) => `    ${line}`)
      .join('\n')
  } catch {}
  const why = error instanceof StepFailed ? `${error.step} exited ${error.exitCode}` : String(error)
  return new BootstrapError(
    `kind images: ${label} could not be built: ${why}\n  last lines of its log:\n${tail}`,
    {
      hint: `full log: ${logFile}. Go builds need the Go module proxy, roots the Debian mirror, images a running Docker engine; a version the proxy refuses (403) is final: pin another in lib/tools/kind-images/recipe.ts. Then run \`just tools kind-images\` again`,
      cause: error,
    },
  )
}
