import { bootstrapSecret } from '../lib/kube/manifests.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/** The Secrets the platform needs before GitOps can make them (e.g. OpenBao's unseal key), with Prune=false. */
export const step = defineStep({
  id: '05',
  name: 'bootstrap-secrets',
  summary: "the environment's bootstrap Secrets exist, annotated Prune=false",
  async objects(ctx) {
    const { values } = await ctx.secrets()
    return ctx.env.bootstrapSecrets.map((spec) => bootstrapSecret(spec, values))
  },
})

if (import.meta.main) await main([step])
