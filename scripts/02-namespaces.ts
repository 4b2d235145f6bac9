import { namespace } from '../lib/kube/manifests.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/** The namespaces the bootstrap Secrets and Argo CD land in; the rest are made by GitOps. */
export const step = defineStep({
  id: '02',
  name: 'namespaces',
  summary: 'argocd, openbao, cert-manager and the platform namespaces exist',
  objects: async (ctx) => {
    const found = new Map(
      (await (await ctx.kube()).list('v1', 'Namespace')).map((ns) => [ns.metadata.name, ns]),
    )
    return ctx.env.namespaces.map((name) => namespace(name, found.get(name)))
  },
})

if (import.meta.main) await main([step])
