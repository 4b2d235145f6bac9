import { ensureAgeKeyBackup, guardClusterAgeKey } from '../lib/age-key.ts'
import { applyAll } from '../lib/apply.ts'
import { ageSecret } from '../lib/argocd-settings.ts'
import { main } from '../lib/cli.ts'
import { ageKeySecret } from '../lib/manifests.ts'
import { defineStep } from '../lib/step.ts'

/**
 * The cluster age key KSOPS decrypts with, as Secret ksops-age-key before Argo CD starts, so
 * the repo-server starts with it mounted. Never regenerated while one exists: a recreated
 * cluster must decrypt the same committed secrets. A backup, encrypted to the personal key, is kept.
 */
export const step = defineStep({
  id: '03',
  name: 'age-key',
  summary: 'Secret ksops-age-key holds the cluster age key; its encrypted backup exists',
  async run(ctx) {
    const { values } = await ctx.secrets()
    const identity = values[ctx.env.ageKey.field] ?? ''
    await guardClusterAgeKey(ctx, identity)
    await applyAll(ctx, [ageKeySecret(ctx.env.argocd.namespace, identity, ageSecret)])
    await ensureAgeKeyBackup(ctx, identity)
  },
})

if (import.meta.main) await main([step])
