import { ageSecret } from '../lib/argocd/settings.ts'
import { ensureAgeKeyBackup, guardClusterAgeKey } from '../lib/bootstrap-secrets/cluster-key.ts'
import { assertOverlaysDecryptable } from '../lib/bootstrap-secrets/overlay-keys.ts'
import { ageKeySecret } from '../lib/kube/manifests.ts'
import { main } from '../lib/runner/cli.ts'
import type { Context } from '../lib/runner/context.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * The cluster age key KSOPS decrypts with, as Secret ksops-age-key before Argo CD starts, so
 * the repo-server starts with it mounted. Never regenerated while one exists: a recreated
 * cluster must decrypt the same committed secrets. A backup, encrypted to the personal key, is kept.
 * First, every SOPS file the environment's overlays list must be encrypted to this key: one that
 * is not could never render, so the run stops here, naming it, instead of timing out in 08.
 */
export const step = defineStep({
  id: '03',
  name: 'age-key',
  summary:
    "the overlays' SOPS files are encrypted to the cluster key; Secret ksops-age-key holds it; its encrypted backup exists",
  async objects(ctx) {
    const identity = await clusterAgeKey(ctx)
    await assertOverlaysDecryptable(ctx.env, identity)
    await guardClusterAgeKey(ctx, identity)
    return [ageKeySecret(ctx.env.argocd.namespace, identity, ageSecret)]
  },
  run: async (ctx) => ensureAgeKeyBackup(ctx, await clusterAgeKey(ctx)),
})

async function clusterAgeKey(ctx: Context): Promise<string> {
  const { values } = await ctx.secrets()
  return values[ctx.env.ageKey.field] ?? ''
}

if (import.meta.main) await main([step])
