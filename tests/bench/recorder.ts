import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { processStat } from '../../lib/core/commands-running.ts'
import { redactor } from '../../lib/core/redact.ts'
import { stopStack } from '../../lib/local/stack.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'
import { Logger } from '../../lib/runner/log.ts'
import { armReaper, type Reaper } from '../helpers/reaper.ts'
import { killStackSync, stackStatus } from '../local/stack-status.ts'
import type { Workspace } from '../local/workspace.ts'
import {
  describeTarget,
  formatValue,
  meetsTarget,
  type Stats,
  stats,
  type Target,
  type Unit,
} from './stats.ts'

/**
 * What every phase of `just bench` shares: the figures recorded (record), progress on stderr (say),
 * the temp dirs and stacks to clean up, and the other processes seen loading the machine (observe).
 */

export const PHASES = [
  'tools',
  'stack',
  'create',
  'api',
  'fallback',
  'openbao',
  'backup',
  'kind',
  'scale',
] as const
export type Phase = (typeof PHASES)[number]

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

export interface Report {
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

export const figures: Figure[] = []
export const phases: PhaseRecord[] = []
export const notes: string[] = []

export function record(
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

export function round(value: number): number {
  return Math.round(value * 100) / 100
}

// ---------------------------------------------------------------------------------------------
// Progress, clean-up, load.

export const origin = performance.now()
export function say(line: string): void {
  process.stderr.write(
    redactor.mask(`[bench ${((performance.now() - origin) / 1000).toFixed(1).padStart(6)} s] ${line}\n`),
  )
}

export const quiet = new Logger({ sink: { out: () => {}, err: () => {} } })

/** State dirs the benchmark started local processes in (besides the workspace's own stack). */
export const stacks = new Set<string>()
/** Temp dirs to remove at the end. */
export const scratch = new Set<string>()

/**
 * What a bench stopped half way leaves, its stacks and temp dirs, is cleaned by a reaper
 * (tests/helpers/reaper.ts; the workspace arms its own), armed with the first of them.
 */
let reaper: Reaper | undefined
const armed = (): Reaper => {
  reaper ??= armReaper()
  return reaper
}

/** A state dir the bench starts a stack in: stopped and wiped at the end, or by the reaper. */
export function trackStack(stateDir: string): void {
  stacks.add(stateDir)
  armed().stack(stateDir)
}

/** Everything is stopped and removed: the reaper has nothing left to do. */
export function disarmReaper(): void {
  reaper?.disarm()
  reaper = undefined
}

export async function stopAndWipe(stateDir: string): Promise<void> {
  try {
    await stopStack(stateDir, { wipe: true, log: quiet })
  } finally {
    killStackSync(stateDir)
    stacks.delete(stateDir)
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  scratch.add(dir)
  armed().folder(dir)
  return dir
}

/**
 * Processes on the machine that are not this benchmark's, by kind: what else loaded it. Ours are
 * this process's group (the create and kubectl runs it spawns) and the groups of the stacks it
 * started (each stack process leads its own group).
 */
function otherProcesses(stateDirs: string[]): Record<string, number> {
  const ours = new Set<number>([processStat('self')?.group ?? process.pid])
  for (const dir of stateDirs) for (const p of stackStatus(dir)) if (p.running && p.pid) ours.add(p.pid)
  const kinds: Record<string, number> = {}
  const classify = (argv: string[]): string | undefined => {
    const bin = (argv[0] ?? '').split('/').pop() ?? ''
    const all = argv.join(' ')
    if (bin === 'kube-apiserver' || bin === 'etcd' || bin === 'bao' || bin === 'argocd') return bin
    if (bin === 'go' || bin === 'compile' || bin === 'link') return 'go build'
    if (all.includes('vitest')) return 'vitest'
    // A reaper (tests/helpers/reaper.ts), this bench's or a test run's, only waits on a pipe.
    if (all.includes('tests/helpers/reaper-process.ts')) return undefined
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
    if (argv.length === 0 || ours.has(processStat(Number(entry))?.group ?? -1)) continue
    const kind = classify(argv)
    if (kind) kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  return kinds
}

/** What observe() has seen in the current phase, and the state dirs whose processes are the benchmark's own. */
export const observation: { seen: Record<string, number>; stacks: () => string[] } = {
  seen: {},
  stacks: () => [...stacks],
}

/** Samples the other processes (outside any timed region): the phase keeps the most of each kind seen at once. */
export function observe(): void {
  for (const [kind, n] of Object.entries(otherProcesses(observation.stacks())))
    observation.seen[kind] = Math.max(observation.seen[kind] ?? 0, n)
}

export function load(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100)
}

/** What the phases hand on to each other: the workspace, its environment and values, the platform's state. */
export interface Bench {
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
