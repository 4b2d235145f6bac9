import { join } from 'node:path'
import { redactor } from '../../lib/core/redact.ts'
import { kindNotReady, prepareKindWorkspace } from '../e2e/kind-workspace.ts'
import type { PhaseDeps } from './stats.ts'

/**
 * `just bench`'s kind figures, on a real kind cluster offline (the same ground as the test
 * command's kind phase: the offline node image, the image archives, the stand-in charts): per
 * run, a create on a fresh cluster to every Application Synced/Healthy and 09 done (`kind.create`),
 * the create after it with nothing to change (`kind.noop`), and the destroy that follows, its
 * OpenBao snapshot included (`kind.destroy`); each spawn to exit. Without an engine and the egress
 * guard the figures are left out, and a note says why.
 */
export interface KindBenchDeps extends PhaseDeps {
  reports: string
}

export async function benchKind(deps: KindBenchDeps): Promise<void> {
  const notReady = await kindNotReady()
  if (notReady) {
    deps.note(`kind figures left out: ${notReady}`)
    return deps.say(`kind: skipped: ${notReady}`)
  }
  const ground = await prepareKindWorkspace(join(deps.reports, 'bench-chart-mirror'), (line) =>
    deps.say(`kind: ${line}`),
  )
  const samples = { create: [] as number[], noop: [] as number[], destroy: [] as number[] }
  try {
    const { ws } = ground
    redactor.addAll(Object.values(ws.planted))
    const timed = async (script: string, into: number[]) => {
      const started = performance.now()
      const result = await ws.cli(script)
      if (result.code !== 0)
        throw new Error(`${script} exited ${result.code}:\n${redactor.mask(result.output.slice(-2000))}`)
      into.push(performance.now() - started)
    }
    for (let i = 1; i <= deps.runs; i++) {
      deps.say(`kind: create on a fresh cluster, the create after it, destroy: run ${i}/${deps.runs}`)
      await timed('scripts/create.ts', samples.create)
      await timed('scripts/create.ts', samples.noop)
      await timed('scripts/destroy.ts', samples.destroy)
    }
  } finally {
    await ground.cleanup()
  }
  deps.record(
    'kind.create',
    'create dev on kind, a fresh cluster → every Application Synced/Healthy and 09 done (images local)',
    'ms',
    samples.create,
    {
      target: { atMost: 75_000 },
      note: 'spawn to exit: kind create, the 5 image archives loaded, Argo CD (stand-in chart), convergence, OpenBao setup or restore',
    },
  )
  deps.record('kind.noop', 'create dev on kind with nothing to change: spawn to exit', 'ms', samples.noop, {
    target: { atMost: 1000 },
  })
  deps.record(
    'kind.destroy',
    'destroy dev on kind: OpenBao snapshot, then the cluster',
    'ms',
    samples.destroy,
    {
      target: { atMost: 5000 },
    },
  )
}
