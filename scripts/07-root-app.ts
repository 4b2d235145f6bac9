import { refOf } from '../lib/kube/client.ts'
import { changedSourceFields, rootApplication, sourceOf } from '../lib/kube/manifests.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * The root App of Apps. What create owns in it — its source: the repository, path, revision and
 * the environment's gitops.include — follows the config on every run; the rest (sync policy, and
 * whatever a person changed through Argo CD) is left as it is, so a later create does not fight
 * Argo CD or its users over it.
 */
export const step = defineStep({
  id: '07',
  name: 'root-app',
  summary: "the root Application exists, its source is the config's, and Argo CD owns the rest",
  async objects(ctx) {
    const source = await ctx.source()
    const root = rootApplication(ctx.env, source.platformURL)
    const existing = await (await ctx.kube()).get(refOf(root))
    if (!existing) return [root]
    const wanted = sourceOf(root)
    const changed = changedSourceFields(sourceOf(existing), wanted)
    if (changed.length === 0) {
      ctx.log.detail("Application/root: its source is as configured; the rest is Argo CD's, not touched")
      return []
    }
    ctx.log.detail(
      `Application/root: ${changed.join(', ')} ${changed.length === 1 ? 'differs' : 'differ'} from the config`,
    )
    // Only the source is asserted anew; every other field is given back as the cluster has it.
    return [{ ...root, spec: { ...(existing.spec as object), source: wanted } }]
  },
})

if (import.meta.main) await main([step])
