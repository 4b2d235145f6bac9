import { redactor } from '../../lib/core/redact.ts'
import { addTenant } from '../../lib/tenants/tenant.ts'
import { makeWorkspace } from '../local/workspace.ts'
import { type PhaseDeps, stats } from './stats.ts'
import { apiRequests, CreateFailed, timedCreate } from './timed-create.ts'

/**
 * `just bench`'s scale figures on the local provider: a platform with N tenants more than the
 * checkout's one (N = 1, 10, 100), each added with `just tenant add`'s own code — its namespace,
 * quota, limits, AppProject, Application and a served repository holding a Deployment and a
 * Service. Per N, in a fresh workspace: `create local` on a fresh stack to every Application
 * Synced/Healthy (`scale.create.N`), then `create` with nothing to change (`scale.noop.N`), and the
 * Kubernetes API requests each sends (from the run's own summary). Across N: the cost of one more
 * tenant and how 100 compare with 10.
 */
export interface ScaleBenchDeps extends PhaseDeps {
  /** The tenant counts (default 1, 10, 100). */
  sizes?: number[]
}

const SIZES = [1, 10, 100]

export async function benchScale(deps: ScaleBenchDeps): Promise<void> {
  const converged: Record<number, number[]> = {}
  for (const n of deps.sizes ?? SIZES) {
    deps.say(`scale: a workspace with ${n} tenants more (tenant add, one by one)`)
    const ws = await makeWorkspace()
    redactor.addAll(Object.values(ws.planted))
    const key = process.env.SOPS_AGE_KEY_FILE
    process.env.SOPS_AGE_KEY_FILE = ws.keyFile
    try {
      for (let i = 0; i < n; i++) {
        const name = `scale-${String(i).padStart(3, '0')}`
        await addTenant(
          { name, repoURL: `https://git.example.org/${name}/workloads.git`, envs: ['local'] },
          { root: ws.dir, say: () => {}, token: async () => undefined },
        )
      }
      const create: number[] = []
      const noop: number[] = []
      const createRequests: number[] = []
      const noopRequests: number[] = []
      for (let run = 1; run <= deps.runs; run++) {
        if (run > 1) {
          const destroyed = await ws.cli('scripts/destroy.ts', ['--no-snapshot'])
          if (destroyed.code !== 0) throw new Error(`destroy local exited ${destroyed.code}`)
        }
        deps.say(`scale: ${n} tenants: create local on a fresh stack, run ${run}/${deps.runs}`)
        const once = await timedCreate(ws).catch((error: unknown) => {
          if (error instanceof CreateFailed) throw new Error(`${n} tenants: ${error.message}`)
          throw error
        })
        create.push(once.converged)
        if (once.requests) createRequests.push(once.requests.reads + once.requests.writes)
        deps.say(`  converged after ${Math.round(once.converged)} ms`)
        const started = performance.now()
        const again = await ws.cli('scripts/create.ts')
        noop.push(performance.now() - started)
        if (again.code !== 0) throw new Error(`${n} tenants: the no-op create exited ${again.code}`)
        const requests = apiRequests(again.output)
        if (requests) {
          noopRequests.push(requests.reads + requests.writes)
          if (requests.writes > 0) deps.note(`scale.noop.${n}: run ${run} sent ${requests.writes} writes`)
        }
      }
      converged[n] = create
      deps.record(
        `scale.create.${n}`,
        `create local with ${n} tenants more → every Application Synced/Healthy`,
        'ms',
        create,
        { note: 'spawn to step 08 done, a fresh stack each run (destroy --no-snapshot between)' },
      )
      deps.record(`scale.noop.${n}`, `create local with ${n} tenants more, nothing to change`, 'ms', noop, {
        ...(n === 100 ? { target: { atMost: 1000 } } : {}),
      })
      deps.record(
        `scale.requests.create.${n}`,
        `create with ${n} tenants more: Kubernetes API requests`,
        'count',
        createRequests,
      )
      deps.record(
        `scale.requests.noop.${n}`,
        `no-op create with ${n} tenants more: Kubernetes API requests`,
        'count',
        noopRequests,
      )
    } finally {
      // Assigning undefined would leave the string 'undefined' behind.
      if (key === undefined) delete process.env.SOPS_AGE_KEY_FILE
      else process.env.SOPS_AGE_KEY_FILE = key
      await ws.dispose()
    }
  }
  const [ten, hundred] = [converged[10], converged[100]]
  if (ten?.length && hundred?.length) {
    const median = (xs: number[]) => stats(xs).median
    deps.record(
      'scale.ratio.100to10',
      'create with 100 tenants over create with 10 (each sample over the median of 10)',
      'x',
      hundred.map((ms) => ms / median(ten)),
      { target: { atMost: 12 } },
    )
    deps.record(
      'scale.perTenant',
      'create: time per added tenant between 10 and 100 (each sample of 100 against the median of 10)',
      'ms',
      hundred.map((ms) => (ms - median(ten)) / 90),
      { target: { atMost: 200 } },
    )
  }
}
