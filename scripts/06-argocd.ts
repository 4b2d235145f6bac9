import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/** Argo CD with KSOPS in the repo-server: the Helm chart on a cluster, its controllers as processes on local. */
export const step = defineStep({
  id: '06',
  name: 'argocd',
  summary: 'Argo CD is running with KSOPS and the cluster age key in its repo-server',
  objects: async (ctx) => (await ctx.provider.argocdObjects?.(ctx)) ?? [],
  run: (ctx) => ctx.provider.installArgoCD(ctx),
})

if (import.meta.main) await main([step])
