import { rmSync } from 'node:fs'
import { redactor } from '../../lib/core/redact.ts'
import type { KObject } from '../../lib/kube/client.ts'
import { ensureControlPlane } from '../../lib/local/control-plane.ts'
import type { Workspace } from '../local/workspace.ts'
import {
  type Bench,
  figures,
  notes,
  observe,
  quiet,
  record,
  say,
  stopAndWipe,
  tempDir,
  trackStack,
} from './recorder.ts'
import { formatValue } from './stats.ts'
import { CreateFailed, stepTimes, timedCreate } from './timed-create.ts'

/** The stack and create phases: the bare local stack, then `create local` to converged and as a no-op. */

export async function phaseStack(b: Bench, nodes: number): Promise<void> {
  const samples: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    const stateDir = tempDir('pb-bench-stack-')
    trackStack(stateDir)
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
export const FAILURES_TOLERATED = 2

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
export async function syncWaveTimes(ws: Workspace, startedAt: number): Promise<Record<string, number>> {
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

export async function phaseCreate(b: Bench): Promise<void> {
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
export function recordCreateVsStack(): void {
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

export async function ensurePlatform(b: Bench): Promise<void> {
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
