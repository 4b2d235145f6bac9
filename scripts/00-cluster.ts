import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/** A cluster that answers, with every node Ready: made by kind or the local stack, or the guarded existing one. */
export const step = defineStep({
  id: '00',
  name: 'cluster',
  summary: 'the cluster exists, its API answers and every node is Ready',
  run: (ctx) => ctx.provider.ensureCluster(ctx),
})

if (import.meta.main) await main([step])
