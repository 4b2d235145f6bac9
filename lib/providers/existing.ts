import { homedir } from 'node:os'
import { join } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { loadKubeConfig } from '../kube/client.ts'
import type { ClusterProvider, Context } from '../runner/context.ts'
import { removeCreated } from './existing-teardown.ts'
import {
  argocdUiHints,
  chartControllerStartedAt,
  chartInstallObjects,
  installArgoCDChart,
} from './helm-argocd.ts'
import { portForwardOpenBao } from './port-forward.ts'

/**
 * A cluster someone else made (staging, prod): used only through the context the environment
 * names, and only when that is the current context, so a run never lands on the wrong cluster.
 */
export const existingProvider: ClusterProvider = {
  name: 'existing',

  async ensureCluster(ctx) {
    const nodes = await (await ctx.kube()).list('v1', 'Node')
    ctx.log.detail(`context ${ctx.env.cluster.context}: ${nodes.length} nodes`)
  },

  /** Every step reaches the cluster through here, so `just step NN staging` is guarded too. */
  access(ctx) {
    const kubeconfig = kubeconfigPath()
    const kc = loadKubeConfig(kubeconfig)
    assertContext(
      ctx,
      kc.getCurrentContext(),
      kc.getContexts().map((c) => c.name),
    )
    return { kubeconfig, context: ctx.env.cluster.context }
  },

  async gitopsSource(ctx) {
    const { platformRepo, tenantRepos } = ctx.env.gitops
    return {
      platformURL: platformRepo.url,
      tenantURLs: Object.fromEntries(Object.entries(tenantRepos).map(([t, r]) => [t, r.url])),
    }
  },

  argocdObjects: (ctx) => chartInstallObjects(ctx),

  installArgoCD: (ctx) => installArgoCDChart(ctx, existingProvider.access(ctx)),

  argocdControllerStartedAt: (ctx) => chartControllerStartedAt(ctx),

  openbao: (ctx) => portForwardOpenBao(ctx),

  accessHints: (ctx) => argocdUiHints(ctx, existingProvider.access(ctx)),

  // The cluster is there whatever destroy does: it only removes what create made on it.
  hasCluster: async () => true,

  async refuseDestroy(ctx) {
    if (ctx.flags.force) return
    throw new BootstrapError(
      `environment ${ctx.env.name} runs on an existing cluster (context ${ctx.env.cluster.context}): destroy does not touch it`,
      {
        hint: `\`just destroy ${ctx.env.name} --force\` removes from that cluster everything create made on it and everything Argo CD deployed from it: every Application of the root App of Apps with the objects it deployed, Argo CD's Helm release, the namespaces create made among ${ctx.env.namespaces.join(', ')} (with all they hold), the bootstrap Secrets, and Argo CD's CRDs when nothing else uses them — after taking OpenBao's snapshot; the cluster, and namespaces that were there before create, stay`,
        exitCode: 2,
      },
    )
  },

  async destroy(ctx) {
    await existingProvider.refuseDestroy?.(ctx)
    await removeCreated(ctx, existingProvider.access(ctx))
  },
}

function kubeconfigPath(): string {
  return process.env.KUBECONFIG?.split(':')[0] || join(homedir(), '.kube', 'config')
}

/** The context-safety check: the current context must be the one the environment names. */
export function assertContext(ctx: Pick<Context, 'env'>, current: string, known: string[]): void {
  const wanted = ctx.env.cluster.context
  if (!wanted || !known.includes(wanted)) {
    throw new BootstrapError(
      `kube context "${wanted}" (cluster.context in ${ctx.env.file}) is not in your kubeconfig`,
      {
        hint: `contexts there: ${known.join(', ') || 'none'}`,
        exitCode: 2,
      },
    )
  }
  if (current !== wanted) {
    throw new BootstrapError(
      `the current kube context is "${current}", but environment ${ctx.env.name} runs against "${wanted}"`,
      {
        hint: `switch deliberately: kubectl config use-context ${wanted}`,
        exitCode: 2,
      },
    )
  }
}
