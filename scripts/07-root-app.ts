import { applyAll } from '../lib/apply.ts'
import { main } from '../lib/cli.ts'
import { refOf } from '../lib/kube.ts'
import { rootApplication } from '../lib/manifests.ts'
import { defineStep } from '../lib/step.ts'

/**
 * The root App of Apps, applied once. From then on Argo CD owns it (selfHeal), so a later
 * create leaves it alone instead of fighting Argo CD over it (seed 000's one-way handoff).
 */
export const step = defineStep({
  id: '07',
  name: 'root-app',
  summary: 'the root Application exists and Argo CD owns it',
  async run(ctx) {
    const source = await ctx.provider.gitopsSource(ctx)
    const root = rootApplication(ctx.env, source.platformURL)
    if (await (await ctx.kube()).get(refOf(root))) {
      ctx.log.detail('Application/root exists: Argo CD owns it now, not touched')
      return
    }
    await applyAll(ctx, [root])
  },
})

if (import.meta.main) await main([step])
