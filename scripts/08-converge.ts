import { main } from '../lib/cli.ts'
import { waitForConvergence } from '../lib/converge.ts'
import { defineStep } from '../lib/step.ts'

/** Every Application Synced and Healthy, with progress while it waits and diagnostics if it times out. */
export const step = defineStep({
  id: '08',
  name: 'converge',
  summary: 'every Argo CD Application is Synced and Healthy',
  async run(ctx) {
    if (ctx.flags.dryRun) return ctx.log.detail('dry run: nothing was applied, nothing to wait for')
    await waitForConvergence(ctx)
  },
})

if (import.meta.main) await main([step])
