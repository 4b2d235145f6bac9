import { waitForConvergence } from '../lib/argocd/converge.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * Every Application Synced and Healthy, with progress while it waits and diagnostics if it times
 * out. Except those the gitops tree labels healthy-after openbao-setup (the secret consumers): no
 * waiting makes them Healthy before step 09 has configured OpenBao, so 09 waits for them.
 */
export const step = defineStep({
  id: '08',
  name: 'converge',
  summary: 'every Argo CD Application is Synced and Healthy, but those that need openbao-setup first',
  async run(ctx) {
    if (ctx.flags.dryRun) return ctx.log.detail('dry run: nothing was applied, nothing to wait for')
    await waitForConvergence(ctx, { leaveFor: 'openbao-setup' })
  },
})

if (import.meta.main) await main([step])
