import { main } from '../lib/cli.ts'
import { BootstrapError } from '../lib/errors.ts'
import { refOf } from '../lib/kube.ts'
import { rootApplication } from '../lib/manifests.ts'
import { defineStep } from '../lib/step.ts'

/**
 * The root App of Apps, applied once. From then on Argo CD owns it (selfHeal), so a later
 * create leaves it alone instead of fighting Argo CD over it (a one-way handoff).
 */
export const step = defineStep({
  id: '07',
  name: 'root-app',
  summary: 'the root Application exists and Argo CD owns it',
  async objects(ctx) {
    const source = await ctx.source()
    const root = rootApplication(ctx.env, source.platformURL)
    const existing = await (await ctx.kube()).get(refOf(root))
    if (existing) {
      const pulls = (existing.spec as { source?: { repoURL?: string } } | undefined)?.source?.repoURL
      // A served checkout moved (a new layout, another user): Argo CD would keep syncing the old copy.
      if (ctx.env.gitops.serveCheckout && pulls !== source.platformURL)
        throw new BootstrapError(
          `Application root pulls from ${pulls}, but this run serves the checkout at ${source.platformURL}`,
          {
            hint: `the cluster was made by another version or user of this tool: \`just destroy ${ctx.env.name}\`, then \`just create ${ctx.env.name}\``,
          },
        )
      ctx.log.detail('Application/root exists: Argo CD owns it now, not touched')
      return []
    }
    return [root]
  },
})

if (import.meta.main) await main([step])
