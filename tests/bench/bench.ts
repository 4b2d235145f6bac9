/**
 * `just bench` (`bun tests/bench/bench.ts [--runs N] [--only phase,…]`): measures the runbook on the
 * local stack — real etcd, kube-apiserver, Argo CD's controllers and OpenBao as processes — and
 * prints a table on stdout and writes reports/bench.json. Progress goes to stderr. Never part of
 * the test command, never asserted: a missed target is reported, not failed.
 * `bun tests/bench/bench.ts --markdown` prints the README's performance table from the last report.
 *
 * Phases, each figure the median of `--runs` runs (default and minimum 5: fewer give no spread
 * worth a verdict), with min and max:
 *
 *  tools    `ensureTools()` warm (everything cached), and cold: an empty tools cache in a temp dir
 *           for two quick tools only (age: Go build, openbao: PyPI wheel) — a full cold build of
 *           every tool takes ~20 min here (kubernetes and argocd alone ~17), so it is not rerun;
 *           the seconds the installer recorded when the real cache was filled are reported beside it.
 *  stack    the local control plane from nothing (PKI, etcd, apiserver, controllers, kwok, 1 node
 *           Ready), each run in a fresh state dir.
 *  create   `bun scripts/create.ts --env local` in a throwaway copy of the checkout (tests/local/
 *           workspace.ts), timed from spawn to the moment step 08 reports every Application
 *           Synced/Healthy; `destroy local` between runs, tools cached. The last run's stack stays
 *           up: the phases below run on it.
 *  api      (1) cold create, (2) no-op re-run, (3) the kubectl baseline — see applyLikeTheSteps.
 *  fallback (4) bootstrap secrets with OpenBao (a) refusing connections and (b) accepting and never
 *           answering, default timeout, timed until the SOPS fallback has returned the values.
 *  openbao  (5) openbao-setup cold (a fresh OpenBao per run) and as a no-op.
 *  kind     the kind figures (kind.ts).
 *  scale    N = 1, 10, 100 tenants more on the local provider (scale.ts; `--sizes 1,10` for fewer).
 *
 * Everything it starts it stops at the end, also on failure: stacks are stopped and wiped in a
 * finally, and a process 'exit' handler SIGKILLs whatever is left (killStackSync). No secret value
 * is printed: progress lines carry names and timings only, and every error passes the redactor.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { delimiter, isAbsolute, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { GitopsSource } from '../../lib/argocd/gitops-source.ts'
import { resolveBootstrapSecrets } from '../../lib/bootstrap-secrets/resolve.ts'
import { errorMessage } from '../../lib/core/errors.ts'
import { run } from '../../lib/core/exec.ts'
import { repoRoot, toolsCacheDir } from '../../lib/core/paths.ts'
import { redactor } from '../../lib/core/redact.ts'
import { applyAll } from '../../lib/kube/apply.ts'
import { type ApplyResult, type KObject, loadKubeConfig } from '../../lib/kube/client.ts'
import { ensureControlPlane } from '../../lib/local/control-plane.ts'
import { localLayout, servedReposDir } from '../../lib/local/layout.ts'
import { ensureOpenBao } from '../../lib/local/openbao.ts'
import { pkiPaths } from '../../lib/local/pki.ts'
import { localBinary } from '../../lib/local/process/binaries.ts'
import { freePort, LOOPBACK } from '../../lib/local/process/ports.ts'
import { stopStack } from '../../lib/local/stack.ts'
import type { OpenBaoEndpoint } from '../../lib/openbao/endpoint.ts'
import { openbaoSetup } from '../../lib/openbao/setup/index.ts'
import { localProvider } from '../../lib/providers/local.ts'
import { createContext } from '../../lib/runner/cli.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'
import type { Context } from '../../lib/runner/context.ts'
import { Logger } from '../../lib/runner/log.ts'
import { ensureTools, toolDir, tools } from '../../lib/tools/index.ts'
import { step as namespacesStep } from '../../scripts/02-namespaces.ts'
import { step as ageKeyStep } from '../../scripts/03-age-key.ts'
import { step as repoCredentialsStep } from '../../scripts/04-repo-credentials.ts'
import { step as bootstrapSecretsStep } from '../../scripts/05-bootstrap-secrets.ts'
import { step as argocdStep } from '../../scripts/06-argocd.ts'
import { step as rootAppStep } from '../../scripts/07-root-app.ts'
import { silentServer } from '../helpers/silent-server.ts'
import { killStackSync, stackStatus } from '../local/stack-status.ts'
import { makeWorkspace, type Workspace } from '../local/workspace.ts'
import { benchKind } from './kind.ts'
import { benchScale } from './scale.ts'
import {
  describeTarget,
  formatMarkdownTable,
  formatTable,
  formatValue,
  meetsTarget,
  type PhaseDeps,
  pairedRatios,
  type Stats,
  stats,
  type Target,
  type Unit,
} from './stats.ts'
import { CreateFailed, stepTimes, timedCreate } from './timed-create.ts'

const PHASES = ['tools', 'stack', 'create', 'api', 'fallback', 'openbao', 'backup', 'kind', 'scale'] as const
type Phase = (typeof PHASES)[number]
const MIN_RUNS = 5
const REPORT = join(repoRoot, 'reports', 'bench.json')
/** Tools the cold install measures: the two quick routes (a Go build, a PyPI wheel). */
const COLD_TOOLS = ['age', 'openbao']

// ---------------------------------------------------------------------------------------------
// What is recorded.

interface Figure {
  id: string
  title: string
  unit: Unit
  samples: number[]
  stats: Stats
  target?: Target
  /** The target as the README states it. */
  targetText?: string
  /** Judged on the median (or on every run where the target says so); absent without a target. */
  met?: boolean
  note?: string
}

interface PhaseRecord {
  name: Phase
  ms: number
  /** 1-, 5- and 15-minute load averages when the phase started and ended. */
  load: { start: number[]; end: number[] }
  /** Processes on the machine that are not the benchmark's own, by kind: the most seen at once, sampled before each run. */
  others: Record<string, number>
}

interface Report {
  generatedAt: string
  runs: number
  machine: { cpus: number; platform: string; bun: string; loadAtStart: number[]; loadAtEnd: number[] }
  phases: PhaseRecord[]
  figures: Figure[]
  /** Seconds per step of the create runs (from its summary), per step: median, min, max. */
  createSteps?: Record<string, Stats & { samples: number[] }>
  createWaves?: Record<string, Stats & { samples: number[] }>
  noopSteps?: Record<string, Stats & { samples: number[] }>
  /** What the tools installer recorded when the real cache was filled (not measured by this run). */
  toolsRecorded?: { tool: string; version: string; source: string; seconds: number }[]
  notes: string[]
}

const figures: Figure[] = []
const phases: PhaseRecord[] = []
const notes: string[] = []

function record(
  id: string,
  title: string,
  unit: Unit,
  samples: number[],
  options: { target?: Target; note?: string } = {},
): Figure {
  const s = stats(samples)
  const figure: Figure = {
    id,
    title,
    unit,
    samples: samples.map(round),
    stats: { ...s, median: round(s.median), min: round(s.min), max: round(s.max) },
    note: options.note,
  }
  if (options.target) {
    figure.target = options.target
    figure.targetText = describeTarget(options.target, unit)
    figure.met = meetsTarget(s, options.target)
  }
  figures.push(figure)
  say(
    `  ${title}: median ${formatValue(s.median, unit)} (min ${formatValue(s.min, unit)}, max ${formatValue(s.max, unit)})${figure.met === false ? ` — target ${figure.targetText} MISSED` : ''}`,
  )
  return figure
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}

// ---------------------------------------------------------------------------------------------
// Progress, clean-up, load.

const origin = performance.now()
function say(line: string): void {
  process.stderr.write(
    redactor.mask(`[bench ${((performance.now() - origin) / 1000).toFixed(1).padStart(6)} s] ${line}\n`),
  )
}

const quiet = new Logger({ sink: { out: () => {}, err: () => {} } })

/** State dirs the benchmark started local processes in (besides the workspace's own stack). */
const stacks = new Set<string>()
/** Temp dirs to remove at the end. */
const scratch = new Set<string>()

/** The workspace's root (its copy of the checkout and its state dir), once made. */
let workspaceRoot: string | undefined

/** The last resort when the process exits before the finally ran (a signal): SIGKILL, then remove the temp dirs. */
function killEverythingSync(): void {
  if (workspaceRoot) stacks.add(join(workspaceRoot, 'state', 'local'))
  for (const dir of stacks) killStackSync(dir)
  for (const dir of [...scratch, workspaceRoot]) if (dir) rmSync(dir, { recursive: true, force: true })
}

async function stopAndWipe(stateDir: string): Promise<void> {
  try {
    await stopStack(stateDir, { wipe: true, log: quiet })
  } finally {
    killStackSync(stateDir)
    stacks.delete(stateDir)
  }
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  scratch.add(dir)
  return dir
}

/** Process group of a pid (field 5 of /proc/<pid>/stat, counted after the command name's closing parenthesis). */
function processGroup(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
  } catch {
    return undefined
  }
}

/**
 * Processes on the machine that are not this benchmark's, by kind: what else loaded it. Ours are
 * this process's group (the create and kubectl runs it spawns) and the groups of the stacks it
 * started (each stack process leads its own group).
 */
function otherProcesses(stateDirs: string[]): Record<string, number> {
  const ours = new Set<number>([processGroup('self') ?? process.pid])
  for (const dir of stateDirs) for (const p of stackStatus(dir)) if (p.running && p.pid) ours.add(p.pid)
  const kinds: Record<string, number> = {}
  const classify = (argv: string[]): string | undefined => {
    const bin = (argv[0] ?? '').split('/').pop() ?? ''
    const all = argv.join(' ')
    if (bin === 'kube-apiserver' || bin === 'etcd' || bin === 'bao' || bin === 'argocd') return bin
    if (bin === 'go' || bin === 'compile' || bin === 'link') return 'go build'
    if (all.includes('vitest')) return 'vitest'
    if (bin === 'bun' || (bin === 'node' && all.includes('scripts/'))) return 'bun/node scripts'
    return undefined
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean)
    } catch {
      continue
    }
    if (argv.length === 0 || ours.has(processGroup(entry) ?? -1)) continue
    const kind = classify(argv)
    if (kind) kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  return kinds
}

let observed: Record<string, number> = {}
let observeStacks: () => string[] = () => [...stacks]

/** Samples the other processes (outside any timed region): the phase keeps the most of each kind seen at once. */
function observe(): void {
  for (const [kind, n] of Object.entries(otherProcesses(observeStacks())))
    observed[kind] = Math.max(observed[kind] ?? 0, n)
}

function load(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100)
}

// ---------------------------------------------------------------------------------------------
// The objects the API steps apply, through the steps' own builders.

/**
 * A copy of the environment whose namespaces all carry `-<tag>`, so each run applies into
 * namespaces nothing has touched: "cold" is really cold, and the no-op re-run finds exactly what
 * the cold run left. Argo CD's controllers watch only `argocd`, so the copies stay inert.
 */
function suffixed(env: EnvConfig, tag: string): EnvConfig {
  const s = (name: string) => `${name}-${tag}`
  const namespaces = env.namespaces.map(s)
  const bootstrapSecrets = env.bootstrapSecrets.map((spec) => ({ ...spec, namespace: s(spec.namespace) }))
  const argocd = { ...env.argocd, namespace: s(env.argocd.namespace) }
  for (const ns of [argocd.namespace, ...bootstrapSecrets.map((spec) => spec.namespace)]) {
    if (!namespaces.includes(ns))
      throw new Error(`namespace ${ns} is used but not in namespaces: the bench needs it there`)
  }
  return { ...env, namespaces, bootstrapSecrets, argocd }
}

/**
 * (1) and (2): steps 02–07 themselves — each step's `objects(ctx)`, applied by the runner's
 * applier (applyAll) — through a Context from createContext, so a fresh Kube per run counts the
 * requests and a changed step is measured as it is. The steps' reads are kept (the age-key guard,
 * argocd-secret's key, the root app's existence check). Left out, as not API work: each step's
 * `run` (03's encrypted backup file, 06's start of the Argo CD processes) and publishing the
 * checkout with git (04's source is handed over, its URLs as the local provider makes them).
 */
const API_STEPS = [
  namespacesStep,
  ageKeyStep,
  repoCredentialsStep,
  bootstrapSecretsStep,
  argocdStep,
  rootAppStep,
]

async function applyLikeTheSteps(ctx: Context): Promise<ApplyResult[]> {
  const results: ApplyResult[] = []
  for (const step of API_STEPS) results.push(...(await applyAll(ctx, (await step.objects?.(ctx)) ?? [])))
  return results
}

/** The same objects, in the same order, for the kubectl baseline (built before its clock starts). */
async function objectsOfTheSteps(ctx: Context): Promise<KObject[]> {
  const objects: KObject[] = []
  for (const step of API_STEPS) objects.push(...((await step.objects?.(ctx)) ?? []))
  return objects
}

/**
 * (3): the way a shell runbook applies — one `kubectl apply --server-side` process per manifest.
 * Each manifest goes to kubectl on stdin (`-f -`): a Secret is never written to disk in plaintext. kubectl is the pinned one from the tools cache; its discovery cache is a temp dir,
 * warmed by an untimed run first, as a person's is after their first command (the kinder case
 * for the baseline). `-v=6` makes kubectl log one line per HTTP request: that is the count.
 */
async function kubectlApplyEach(
  kubectl: string,
  kubeconfig: string,
  cacheDir: string,
  objects: KObject[],
): Promise<{ requests: number }> {
  let requests = 0
  for (const object of objects) {
    const { stderr } = await run(
      kubectl,
      ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'apply', '--server-side', '-f', '-', '-v=6'],
      { input: JSON.stringify(object), timeoutMs: 60_000 },
    )
    requests += (stderr.match(/\] "Response" verb="/g) ?? []).length
  }
  return { requests }
}

// ---------------------------------------------------------------------------------------------
// The phases.

interface Bench {
  runs: number
  ws?: Workspace
  /** The workspace's environment with every path absolute (envPath would resolve them in this checkout). */
  env?: EnvConfig
  values?: Record<string, string>
  platformUp: boolean
  createSteps: Record<string, number[]>
  /** When each sync wave's Applications were first deployed, from spawning create (see syncWaveTimes). */
  createWaves: Record<string, number[]>
  /** Each step's time in the no-op creates. */
  noopSteps: Record<string, number[]>
  /** The snapshot step of each destroy (from its summary): what keeping OpenBao's data adds to it. */
  destroySnapshot: number[]
}

async function phaseTools(b: Bench): Promise<void> {
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

function recordedToolInstalls(): Report['toolsRecorded'] {
  return tools.flatMap((tool) => {
    const file = join(toolDir(tool), 'source.json')
    if (!existsSync(file)) return []
    const source = JSON.parse(readFileSync(file, 'utf8')) as { source: string; seconds: number }
    return [{ tool: tool.name, version: tool.version, source: source.source, seconds: source.seconds }]
  })
}

async function phaseStack(b: Bench, nodes: number): Promise<void> {
  const samples: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    const stateDir = tempDir('pb-bench-stack-')
    stacks.add(stateDir)
    say(`stack: control plane from nothing, run ${i}/${b.runs}`)
    try {
      const started = performance.now()
      await ensureControlPlane({ stateDir, nodes, log: quiet })
      samples.push(performance.now() - started)
    } finally {
      await stopAndWipe(stateDir)
      rmSync(stateDir, { recursive: true, force: true })
    }
  }
  record('stack.start', `local stack start: control plane ready, ${nodes} node Ready`, 'ms', samples)
}

/** One `create local` in the workspace: ms to step 08's "done", total ms, per-step ms from the summary. */
/** A `create local` run that failed: its one line of cause, and the end of what it printed. */
/** Failed runs (create, openbao-setup cold) tolerated per phase: each is reported and run again; one more aborts the bench. */
const FAILURES_TOLERATED = 2

async function createOnce(ws: Workspace): Promise<{
  converged: number
  total: number
  steps: Record<string, number>
  waves: Record<string, number>
}> {
  const startedAt = Date.now()
  const { converged, total, steps } = await timedCreate(ws)
  return { converged, total, steps, waves: await syncWaveTimes(ws, startedAt) }
}

/**
 * Where 08's seconds go: from spawning create to the root App of Apps' first sync starting, and
 * to the last child Application of each sync wave first deployed (its first history entry), as
 * Argo CD recorded them. Argo CD's timestamps have whole seconds.
 */
async function syncWaveTimes(ws: Workspace, startedAt: number): Promise<Record<string, number>> {
  const apps = await ws.kube().list('argoproj.io/v1alpha1', 'Application', ws.env.argocd.namespace)
  const firstDeploy = (app: KObject, field: 'deployStartedAt' | 'deployedAt') => {
    const history = (app.status as { history?: Record<string, string>[] } | undefined)?.history ?? []
    const times = history.map((entry) => Date.parse(entry[field] ?? '')).filter((t) => !Number.isNaN(t))
    return times.length > 0 ? Math.min(...times) : undefined
  }
  const times: Record<string, number> = {}
  const root = apps.find((app) => app.metadata.name === 'root')
  const rootStart = root && firstDeploy(root, 'deployStartedAt')
  if (rootStart) times['root sync started'] = rootStart - startedAt
  for (const app of apps) {
    const wave = app.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0'
    const deployed = app.metadata.name === 'root' ? undefined : firstDeploy(app, 'deployedAt')
    if (deployed === undefined) continue
    const key = `wave ${wave} deployed`
    times[key] = Math.max(times[key] ?? 0, deployed - startedAt)
  }
  return times
}

async function destroyOnce(ws: Workspace, snapshots?: number[]): Promise<void> {
  const result = await ws.cli('scripts/destroy.ts')
  if (result.code !== 0)
    throw new Error(`destroy local exited ${result.code}:\n${redactor.mask(result.output.slice(-2000))}`)
  const step = /^ {2}snapshot openbao-snapshot\s+ok\s+([\d.]+) (ms|s)$/m.exec(result.output)
  if (step && snapshots) snapshots.push(Number(step[1]) * (step[2] === 's' ? 1000 : 1))
}

/**
 * What keeping OpenBao's data costs: `just backup` and `just restore --force` on the running
 * platform, spawn to exit; and the snapshot step each destroy of the create phase took.
 */
async function phaseBackup(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  await ensurePlatform(b)
  const backup: number[] = []
  const restore: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    say(`backup: just backup local, then just restore local --force, run ${i}/${b.runs}`)
    for (const [samples, args] of [
      [backup, ['scripts/backup.ts']],
      [restore, ['scripts/restore.ts', '--force']],
    ] as const) {
      const started = performance.now()
      const result = await ws.cli(args[0], args.slice(1))
      if (result.code !== 0)
        throw new Error(
          `${args.join(' ')} exited ${result.code}:\n${redactor.mask(result.output.slice(-2000))}`,
        )
      samples.push(performance.now() - started)
    }
  }
  record('openbao.backup', 'just backup local: OpenBao raft snapshot, encrypted, on disk', 'ms', backup, {
    note: 'spawn to exit; destroy takes the same snapshot first',
  })
  record(
    'openbao.restore',
    'just restore local --force: the snapshot back, then openbao-setup',
    'ms',
    restore,
    {
      note: 'spawn to exit; a create after destroy restores the same way in step 09',
    },
  )
  if (b.destroySnapshot.length)
    record(
      'destroy.snapshot',
      'destroy local: its snapshot step (what keeping OpenBao adds)',
      'ms',
      b.destroySnapshot,
    )
}

async function phaseCreate(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const converged: number[] = []
  const total: number[] = []
  const failures: string[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    if (b.platformUp) {
      say('create: destroy local first')
      await destroyOnce(ws, b.destroySnapshot)
      b.platformUp = false
    }
    say(`create: create local → every Application Synced/Healthy, run ${i}/${b.runs}`)
    b.platformUp = true // from here on there is something to destroy, whatever the outcome
    let once: Awaited<ReturnType<typeof createOnce>>
    try {
      once = await createOnce(ws)
    } catch (error) {
      if (!(error instanceof CreateFailed) || failures.length >= FAILURES_TOLERATED) throw error
      failures.push(error.reason)
      say(`  run ${i} FAILED (${error.reason}): not a sample; reported, and run again`)
      i--
      continue
    }
    converged.push(once.converged)
    total.push(once.total)
    for (const [step, ms] of Object.entries(once.steps))
      b.createSteps[step] = [...(b.createSteps[step] ?? []), ms]
    for (const [wave, ms] of Object.entries(once.waves))
      b.createWaves[wave] = [...(b.createWaves[wave] ?? []), ms]
    say(
      `  converged after ${formatValue(once.converged, 'ms')}, create done after ${formatValue(once.total, 'ms')}`,
    )
  }
  record(
    'create.converged',
    'create local → every Application Synced/Healthy (tools cached)',
    'ms',
    converged,
    {
      target: { below: 60_000 },
      note: 'from spawning `bun scripts/create.ts --env local` to step 08 done; destroy local between runs',
    },
  )
  for (const [n, cause] of failures.entries()) {
    notes.push(`create: failed run ${n + 1} of ${failures.length}, not counted, run again: ${cause}`)
  }
  record('create.total', 'create local, all steps 00–09 (incl. openbao-setup)', 'ms', total)

  // The last create's platform is up: create again, with nothing to change.
  const noop: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    say(`create: create local again, nothing to change — run ${i}/${b.runs}`)
    const started = performance.now()
    const result = await ws.cli('scripts/create.ts')
    noop.push(performance.now() - started)
    if (result.code !== 0)
      throw new Error(`no-op create exited ${result.code}: ${redactor.mask(result.output.slice(-1500))}`)
    const changed = result.output.split('\n').filter((line) => /: (created|configured)$/.test(line))
    if (changed.length > 0) throw new Error(`no-op create changed something: ${changed.join('; ')}`)
    for (const [step, ms] of Object.entries(stepTimes(result.output)))
      b.noopSteps[step] = [...(b.noopSteps[step] ?? []), ms]
  }
  record(
    'create.noop',
    'create local with the platform up and nothing to change: spawn to exit',
    'ms',
    noop,
    {
      target: { atMost: 500 },
      note: 'reads everything it owns (no cache), writes nothing; `bun scripts/create.ts --env local`',
    },
  )
}

/** create → converged over the bare stack start, both measured in this run. */
function recordCreateVsStack(): void {
  const converged = figures.find((f) => f.id === 'create.converged')
  const stack = figures.find((f) => f.id === 'stack.start')
  if (!converged || !stack) return
  record(
    'create.vsStack',
    'create local → converged, over the bare local stack start (same run)',
    'x',
    converged.samples.map((ms) => ms / stack.stats.median),
    {
      target: { atMost: 3.5 },
      note: `each converged sample over the median stack start (${formatValue(stack.stats.median, 'ms')})`,
    },
  )
}

async function ensurePlatform(b: Bench): Promise<void> {
  if (b.platformUp) return
  say('platform: one untimed create local, for the phases that run on the stack')
  for (let attempt = 1; ; attempt++) {
    b.platformUp = true
    try {
      await createOnce(b.ws as Workspace)
      return
    } catch (error) {
      if (!(error instanceof CreateFailed) || attempt > FAILURES_TOLERATED) throw error
      notes.push(`platform: the untimed create failed and was run again: ${error.reason}`)
      say(`  untimed create FAILED (${error.reason}); destroy, then once more`)
      await destroyOnce(b.ws as Workspace)
    }
  }
}

function benchContext(env: EnvConfig, values: Record<string, string>, source?: GitopsSource): Context {
  // createContext's secrets() would also make first-run files next to this checkout: the values
  // are resolved once from the workspace's SOPS file instead and handed over as they are.
  const resolved = { values, sources: {}, warnings: [] }
  const ctx = createContext(env, { dryRun: false, force: false, rotate: [] }, quiet)
  return { ...ctx, secrets: async () => resolved, source: source ? async () => source : ctx.source }
}

async function phaseApi(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const values = b.values as Record<string, string>
  await ensurePlatform(b)
  const kubeconfig = localLayout(join(ws.stateDir, 'local')).adminKubeconfig
  // The served repositories' URLs, as lib/providers/local.ts makes them (publishing is not API work).
  const reposDir = servedReposDir(localLayout(join(ws.stateDir, 'local')))
  const source: GitopsSource = {
    platformURL: `file://${join(reposDir, 'platform')}`,
    tenantURLs: Object.fromEntries(
      Object.keys(env.gitops.tenantRepos).map((tenant) => [
        tenant,
        `file://${join(reposDir, `tenant-${tenant}`)}`,
      ]),
    ),
  }
  const kubectl = localBinary('kubectl')
  notes.push(`api: kubectl is ${kubectl}; namespaces suffixed -bc<run> (runbook path) and -bk<run> (kubectl)`)
  const cacheDir = join(tempDir('pb-bench-kubectl-'), 'cache')
  const objectCount = (await objectsOfTheSteps(benchContext(suffixed(env, 'bcount'), values, source))).length

  const once = async (tag: string) => {
    const coldEnv = suffixed(env, `bc${tag}`)
    const cold = benchContext(coldEnv, values, source)
    let started = performance.now()
    const created = await applyLikeTheSteps(cold)
    const coldMs = performance.now() - started
    const coldKube = await cold.kube()
    if (created.some((r) => r !== 'created'))
      throw new Error(`cold run ${tag}: not everything was created (${created.join(', ')})`)

    const again = benchContext(coldEnv, values, source) // a new run: a new Kube, as a new `just create` process has
    started = performance.now()
    const unchanged = await applyLikeTheSteps(again)
    const noopMs = performance.now() - started
    const againKube = await again.kube()
    if (unchanged.some((r) => r !== 'unchanged'))
      throw new Error(`no-op run ${tag}: something changed (${unchanged.join(', ')})`)

    const objects = await objectsOfTheSteps(benchContext(suffixed(env, `bk${tag}`), values, source))
    started = performance.now()
    const baseline = await kubectlApplyEach(kubectl, kubeconfig, cacheDir, objects)
    const kubectlMs = performance.now() - started
    return {
      coldMs,
      coldRequests: coldKube.requests.reads + coldKube.requests.writes,
      coldWrites: coldKube.requests.writes,
      noopMs,
      noopRequests: againKube.requests.reads + againKube.requests.writes,
      noopWrites: againKube.requests.writes,
      kubectlMs,
      kubectlRequests: baseline.requests,
    }
  }

  say(`api: one untimed warm-up of both paths (${objectCount} objects each; warms kubectl's discovery cache)`)
  await once('w')
  const runs: Awaited<ReturnType<typeof once>>[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    say(`api: cold create, no-op re-run, kubectl baseline — run ${i}/${b.runs}`)
    runs.push(await once(String(i)))
  }
  const pick = (key: keyof (typeof runs)[number]) => runs.map((r) => r[key])
  record(
    'api.cold',
    `(1) cold create, ${objectCount} objects of steps 02–07: wall time`,
    'ms',
    pick('coldMs'),
  )
  record(
    'api.cold.requests',
    '(1) cold create: API requests (reads + writes)',
    'count',
    pick('coldRequests'),
    {
      note: `of which writes: ${stats(pick('coldWrites')).median} (one server-side apply per object)`,
    },
  )
  record('api.noop', '(2) no-op re-run of the same: wall time', 'ms', pick('noopMs'), {
    target: { below: 2000 },
  })
  record('api.noop.writes', '(2) no-op re-run: writes', 'count', pick('noopWrites'), {
    target: { below: 1, on: 'max' },
  })
  record('api.noop.requests', '(2) no-op re-run: API requests (all reads)', 'count', pick('noopRequests'))
  record(
    'api.kubectl',
    `(3) kubectl apply --server-side, one process per manifest (${objectCount})`,
    'ms',
    pick('kubectlMs'),
  )
  record(
    'api.kubectl.requests',
    '(3) kubectl baseline: API requests (from kubectl -v=6)',
    'count',
    pick('kubectlRequests'),
  )
  const speedup = pairedRatios(pick('kubectlMs'), pick('coldMs'))
  const ratio = stats(pick('coldMs')).median / stats(pick('kubectlMs')).median
  record('api.speedup', '(3) ÷ (1): kubectl baseline time over cold create time, per run', 'x', speedup, {
    target: { atLeast: 12 },
    note: `ratio of medians (1) : (3) = ${ratio.toFixed(3)} (cold create takes ${(ratio * 100).toFixed(1)} % of the baseline's time)`,
  })
}

/** A port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const port = await freePort()
  const refused = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: LOOPBACK, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
  if (!refused) throw new Error(`port ${port} was expected to refuse connections`)
  return port
}

async function phaseFallback(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const keys = tempDir('pb-bench-vault-')
  const tokenFile = join(keys, 'vault-token')
  const token = randomBytes(16).toString('hex')
  redactor.add(token)
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  const base = { sopsFile: env.secrets.sopsFile, fields: env.secrets.fields, ageKeyFile: ws.keyFile }
  const vault = (port: number) => ({
    address: `http://${LOOPBACK}:${port}`,
    kvPath: 'secret/data/bench/bootstrap',
    tokenFile,
  })

  const timeResolve = async (vaultPort: number | undefined): Promise<{ ms: number; warning: string }> => {
    const started = performance.now()
    const resolved = await resolveBootstrapSecrets(
      { ...base, vault: vaultPort === undefined ? undefined : vault(vaultPort) },
      { log: quiet },
    )
    const ms = performance.now() - started
    const fromSops = Object.values(resolved.sources).filter((s) => s === 'sops').length
    if (fromSops !== env.secrets.fields.length)
      throw new Error(`the fallback gave ${fromSops} of ${env.secrets.fields.length} fields`)
    return { ms, warning: resolved.warnings[0] ?? '' }
  }

  const refused = await closedPort()
  const silent = await silentServer()
  try {
    say('fallback: one untimed resolve (warms sops and the node-vault client)')
    await timeResolve(refused)
    const samples = { refused: [] as number[], silent: [] as number[], sops: [] as number[] }
    const warnings = { refused: '', silent: '' }
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`fallback: refused, silent, SOPS alone — run ${i}/${b.runs}`)
      const a = await timeResolve(refused)
      samples.refused.push(a.ms)
      warnings.refused = a.warning
      const s = await timeResolve(silent.port)
      samples.silent.push(s.ms)
      warnings.silent = s.warning
      silent.drop()
      samples.sops.push((await timeResolve(undefined)).ms)
    }
    const cause = (warning: string) => /\(([^)]*)\)/.exec(warning)?.[1] ?? warning
    record(
      'fallback.refused',
      '(4a) fallback, OpenBao refusing connections → SOPS values',
      'ms',
      samples.refused,
      {
        target: { below: 500 },
        note: `warning said: unreachable (${cause(warnings.refused)})`,
      },
    )
    record(
      'fallback.silent',
      '(4b) fallback, OpenBao accepting, never answering → SOPS values',
      'ms',
      samples.silent,
      {
        target: { below: 3500 },
        note: `default timeout 3 s; warning said: unreachable (${cause(warnings.silent)})`,
      },
    )
    record('fallback.sops', '(4) reference: the SOPS file alone (no Vault configured)', 'ms', samples.sops)
  } finally {
    await silent.close()
  }
}

async function phaseOpenBao(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const values = b.values as Record<string, string>
  await ensurePlatform(b)
  const layout = localLayout(join(ws.stateDir, 'local'))
  const server = loadKubeConfig(layout.adminKubeconfig).getCurrentCluster()?.server ?? ''
  const caCert = readFileSync(pkiPaths(layout.pki).ca.cert, 'utf8')
  const keys = tempDir('pb-bench-openbao-keys-')

  /** A fresh OpenBao (new state dir, new unseal key) whose kubernetes auth reviews against the workspace's apiserver. */
  const freshOpenBao = async (i: number) => {
    const stateDir = tempDir('pb-bench-openbao-')
    stacks.add(stateDir)
    const unsealKeyFile = join(keys, `unseal-${i}.key`)
    const key = randomBytes(32).toString('base64')
    redactor.add(key)
    writeFileSync(unsealKeyFile, key, { mode: 0o600 }) // no newline: the static seal reads it byte for byte
    const bao = await ensureOpenBao({ stateDir, unsealKeyFile, log: quiet })
    const endpoint: OpenBaoEndpoint = {
      address: bao.address,
      kubernetesHost: server,
      kubernetesCaCert: caCert,
      close: async () => {},
    }
    // Its own init file, and no snapshot: the destroys of the create phase left one, and a cold
    // setup restoring it (into an OpenBao with another seal key) is not what this phase measures.
    const runEnv = {
      ...env,
      openbao: {
        ...env.openbao,
        initFile: join(keys, `openbao-${i}.sops.yaml`),
        snapshotFile: join(keys, `no-snapshot-${i}.age`),
      },
    }
    return { stateDir, endpoint, runEnv }
  }
  const setupOnce = async (runEnv: EnvConfig, endpoint: OpenBaoEndpoint) => {
    const ctx: Context = {
      ...benchContext(runEnv, values),
      provider: { ...localProvider, openbao: async () => endpoint },
    }
    const started = performance.now()
    const report = await openbaoSetup(ctx)
    const ms = performance.now() - started
    const kube = await ctx.kube()
    return {
      ms,
      writes: report.writes,
      initFileWrites: report.initFileWrites,
      kubeWrites: kube.requests.writes,
    }
  }

  const cold: Awaited<ReturnType<typeof setupOnce>>[] = []
  let last: Awaited<ReturnType<typeof freshOpenBao>> | undefined
  const failures: string[] = []
  let attempt = 0
  try {
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`openbao: a fresh OpenBao, then openbao-setup cold, run ${i}/${b.runs}`)
      if (last) await stopAndWipe(last.stateDir)
      attempt++
      last = await freshOpenBao(attempt)
      try {
        cold.push(await setupOnce(last.runEnv, last.endpoint))
      } catch (error) {
        if (failures.length >= FAILURES_TOLERATED) throw error
        const reason = redactor.mask(errorMessage(error)).split('\n')[0] ?? ''
        failures.push(reason)
        say(`  run ${i} FAILED (${reason}): not a sample; reported, and run again with a fresh OpenBao`)
        i--
      }
    }
    for (const [n, reason] of failures.entries()) {
      notes.push(`openbao: failed cold run ${n + 1} of ${failures.length}, not counted, run again: ${reason}`)
    }
    const noop: Awaited<ReturnType<typeof setupOnce>>[] = []
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`openbao: openbao-setup again on the last one (no-op), run ${i}/${b.runs}`)
      const { runEnv, endpoint } = last as NonNullable<typeof last>
      noop.push(await setupOnce(runEnv, endpoint))
    }
    record(
      'openbao.cold',
      '(5) openbao-setup cold: init, KV, kubernetes auth, policies, roles, secrets',
      'ms',
      cold.map((r) => r.ms),
      {
        note: 'a fresh OpenBao (state dir, unseal key, init file) per run, started before the clock',
      },
    )
    record(
      'openbao.cold.writes',
      '(5) openbao-setup cold: write requests to OpenBao',
      'count',
      cold.map((r) => r.writes),
      {
        note: `init file written ${stats(cold.map((r) => r.initFileWrites)).median}× per run`,
      },
    )
    record(
      'openbao.noop',
      '(5) openbao-setup as a no-op',
      'ms',
      noop.map((r) => r.ms),
    )
    record(
      'openbao.noop.writes',
      '(5) openbao-setup no-op: writes (OpenBao + init file + API)',
      'count',
      noop.map((r) => r.writes + r.initFileWrites + r.kubeWrites),
      {
        target: { below: 1, on: 'max' },
      },
    )
  } finally {
    if (last) await stopAndWipe(last.stateDir)
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

const TABLE_HEADER = ['figure', 'median', 'min', 'max', 'target', 'verdict']

function tableRows(report: Report): string[][] {
  return report.figures.map((f) => [
    f.title,
    formatValue(f.stats.median, f.unit),
    formatValue(f.stats.min, f.unit),
    formatValue(f.stats.max, f.unit),
    f.targetText ?? '',
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ])
}

function printReport(report: Report): void {
  const out = (line = '') => process.stdout.write(`${line}\n`)
  out(`\nplatform-bootstrap bench — ${report.runs} runs per figure (median, min, max), ${report.generatedAt}`)
  out(
    `machine: ${report.machine.cpus} CPUs, ${report.machine.platform}, bun ${report.machine.bun}; load average ${report.machine.loadAtStart.join(' ')} at start, ${report.machine.loadAtEnd.join(' ')} at end\n`,
  )
  out(formatTable(TABLE_HEADER, tableRows(report)))
  const withNotes = report.figures.filter((f) => f.note)
  if (withNotes.length > 0) out()
  for (const f of withNotes) out(`${f.id}: ${f.note}`)
  if (report.createSteps) {
    const steps = Object.entries(report.createSteps).map(
      ([step, s]) => `${step} ${formatValue(s.median, 'ms')}`,
    )
    out(`\ncreate local, per step (median): ${steps.join(', ')}`)
  }
  if (report.createWaves) {
    const waves = Object.entries(report.createWaves)
      .sort(([, a], [, b]) => a.median - b.median)
      .map(([wave, s]) => `${wave} ${formatValue(s.median, 'ms')}`)
    out(`create local, from spawn (median; Argo CD's whole-second timestamps): ${waves.join(', ')}`)
  }
  if (report.noopSteps) {
    const steps = Object.entries(report.noopSteps).map(
      ([step, s]) => `${step} ${formatValue(s.median, 'ms')}`,
    )
    out(`create local with nothing to change, per step (median): ${steps.join(', ')}`)
  }
  const recorded = (report.toolsRecorded ?? []).filter((t) => t.seconds > 0)
  if (recorded.length > 0) {
    const list = recorded.map((t) => `${t.tool} ${Math.round(t.seconds)} s (${t.source})`).join(', ')
    out(
      `\ntools as the installer recorded them when the real cache was filled (not measured by this run): ${list}`,
    )
  }
  out(
    '\nphases (load average 1/5/15 min at start → end; other processes: the most seen at once, sampled before each run):',
  )
  for (const p of report.phases) {
    const others = Object.entries(p.others)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ')
    out(
      `  ${p.name.padEnd(8)} ${formatValue(p.ms, 'ms').padStart(8)}  load ${p.load.start.join(' ')} → ${p.load.end.join(' ')}  ${others || 'no others'}`,
    )
  }
  for (const note of report.notes) out(`note: ${note}`)
  out(`\nwritten to ${REPORT}`)
}

function printMarkdown(): void {
  if (!existsSync(REPORT)) throw new Error(`${REPORT} does not exist: run \`just bench\` first`)
  const report = JSON.parse(readFileSync(REPORT, 'utf8')) as Report
  process.stdout.write(`${formatMarkdownTable(TABLE_HEADER, tableRows(report))}\n`)
}

// ---------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: String(MIN_RUNS) },
      only: { type: 'string' },
      sizes: { type: 'string' },
      markdown: { type: 'boolean', default: false },
    },
  })
  if (args.markdown) {
    printMarkdown()
    return 0
  }
  const runs = Number(args.runs)
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a positive integer (got ${args.runs})`)
  const selected = args.only ? args.only.split(',').map((p) => p.trim()) : [...PHASES]
  for (const p of selected)
    if (!PHASES.includes(p as Phase)) throw new Error(`no phase ${p}: phases are ${PHASES.join(', ')}`)
  if (runs < MIN_RUNS) notes.push(`${runs} runs per figure: fewer than the ${MIN_RUNS} a verdict needs`)
  if (selected.length < PHASES.length) notes.push(`phases run: ${selected.join(', ')} (not all)`)

  process.on('exit', killEverythingSync)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130))

  const loadAtStart = load()
  say(
    `${runs} runs per figure; phases ${selected.join(', ')}; ${availableParallelism()} CPUs, load average ${loadAtStart.join(' ')}`,
  )
  const b: Bench = {
    runs,
    platformUp: false,
    createSteps: {},
    createWaves: {},
    noopSteps: {},
    destroySnapshot: [],
  }
  let toolsRecorded: Report['toolsRecorded']
  try {
    const needsWorkspace = selected.some(
      (p) => p === 'create' || p === 'api' || p === 'fallback' || p === 'openbao' || p === 'backup',
    )
    if (needsWorkspace) {
      say('workspace: a throwaway copy of the checkout with planted secrets and its own state dir')
      const ws = await makeWorkspace()
      b.ws = ws
      workspaceRoot = join(ws.stateDir, '..')
      redactor.addAll(Object.values(ws.planted))
      // This process's own calls (sops, OpenBao setup, the local provider) use the workspace's
      // key and state dir, and its files by absolute path, never this checkout's.
      process.env.PLATFORM_STATE_DIR = ws.stateDir
      process.env.SOPS_AGE_KEY_FILE = ws.keyFile
      const abs = (file: string) => (isAbsolute(file) || file.startsWith('~/') ? file : join(ws.dir, file))
      b.env = {
        ...ws.env,
        secrets: { ...ws.env.secrets, sopsFile: abs(ws.env.secrets.sopsFile) },
        ageKey: { ...ws.env.ageKey, backupFile: abs(ws.env.ageKey.backupFile) },
        openbao: { ...ws.env.openbao, initFile: abs(ws.env.openbao.initFile) },
      }
      const resolved = await resolveBootstrapSecrets(
        { sopsFile: b.env.secrets.sopsFile, fields: b.env.secrets.fields, ageKeyFile: ws.keyFile },
        { log: quiet },
      )
      redactor.addAll(Object.values(resolved.values))
      b.values = resolved.values
    }
    observeStacks = () => [...(b.ws ? [join(b.ws.stateDir, 'local')] : []), ...stacks]
    const phaseDeps: PhaseDeps = {
      runs: b.runs,
      say,
      note: (line) => notes.push(line),
      record: (id, title, unit, samples, options) => void record(id, title, unit, samples, options),
    }
    const body: Record<Phase, () => Promise<void>> = {
      tools: async () => {
        await phaseTools(b)
        toolsRecorded = recordedToolInstalls()
      },
      stack: () => phaseStack(b, b.env?.cluster.nodes ?? 1),
      create: async () => {
        await phaseCreate(b)
        recordCreateVsStack()
      },
      api: () => phaseApi(b),
      fallback: () => phaseFallback(b),
      openbao: () => phaseOpenBao(b),
      backup: () => phaseBackup(b),
      scale: () =>
        benchScale({ ...phaseDeps, sizes: args.sizes ? args.sizes.split(',').map(Number) : undefined }),
      kind: () => benchKind({ ...phaseDeps, reports: join(repoRoot, 'reports') }),
    }
    for (const name of PHASES) {
      if (!selected.includes(name)) continue
      const start = load()
      observed = {}
      observe()
      say(`phase ${name} (load average ${start.join(' ')})`)
      const started = performance.now()
      await body[name]()
      observe()
      phases.push({
        name,
        ms: Math.round(performance.now() - started),
        load: { start, end: load() },
        others: observed,
      })
    }
  } finally {
    say('stopping everything the bench started')
    for (const dir of [...stacks]) await stopAndWipe(dir).catch(() => {})
    if (b.ws) await b.ws.dispose().catch((error) => say(`workspace clean-up: ${errorMessage(error)}`))
    workspaceRoot = undefined
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
  }

  const summarised = (byName: Record<string, number[]>) =>
    Object.keys(byName).length
      ? Object.fromEntries(
          Object.entries(byName).map(([name, samples]) => {
            const s = stats(samples)
            return [name, { ...s, median: round(s.median), samples }]
          }),
        )
      : undefined
  const createSteps = summarised(b.createSteps)
  const createWaves = summarised(b.createWaves)
  const noopSteps = summarised(b.noopSteps)
  const report: Report = {
    generatedAt: new Date().toISOString(),
    runs,
    machine: {
      cpus: availableParallelism(),
      platform: `${process.platform} ${process.arch}`,
      bun: process.versions.bun ?? 'not bun',
      loadAtStart,
      loadAtEnd: load(),
    },
    phases,
    figures,
    createSteps,
    createWaves,
    noopSteps,
    toolsRecorded,
    notes,
  }
  mkdirSync(join(repoRoot, 'reports'), { recursive: true })
  writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`)
  printReport(report)
  return 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`\nbench failed: ${redactor.mask(errorMessage(error))}\n`)
  if (error instanceof Error && error.stack) process.stderr.write(`${redactor.mask(error.stack)}\n`)
  process.exitCode = 1
}
