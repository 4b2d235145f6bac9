import { helmValues } from '../argocd-settings.ts'
import type { Context } from '../context.ts'
import { helmUninstall, helmUpgrade } from '../helm.ts'
import { type KObject, waitForObject } from '../kube.ts'
import { MANAGED_BY } from '../manifests.ts'
import { versions } from '../versions.ts'
import type { ClusterAccess } from './provider.ts'

const RELEASE = 'argocd'

/** Argo CD from its pinned Helm chart (kind, existing), then waits for the server and repo-server. */
export async function installArgoCDChart(
  ctx: Context,
  access: ClusterAccess,
  extra: Parameters<typeof helmValues>[0] = {},
): Promise<void> {
  const namespace = ctx.env.argocd.namespace
  if (ctx.flags.dryRun)
    return ctx.log.detail(
      `helm release ${RELEASE} (chart argo-cd ${versions.charts.argocd.version}): would be installed or upgraded`,
    )
  await helmUpgrade(ctx.run, {
    name: RELEASE,
    namespace,
    chart: versions.charts.argocd,
    values: helmValues({ namespace, ...extra }),
    kubeconfig: access.kubeconfig,
    context: access.context,
    timeoutSeconds: ctx.env.argocd.timeoutSeconds,
  })
  const kube = await ctx.kube()
  for (const name of ['argocd-server', 'argocd-repo-server']) {
    await waitForObject<KObject>(
      kube,
      { apiVersion: 'apps/v1', kind: 'Deployment', name, namespace },
      'Available',
      (deployment) =>
        ((deployment.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0) > 0,
      ctx.env.argocd.timeoutSeconds * 1000,
    )
    ctx.log.detail(`Deployment/${namespace}/${name}: Available`)
  }
}

/** Removes only what create made on a cluster it did not create: the root app, the release, the Secrets it labelled. */
export async function uninstallCreated(ctx: Context, access: ClusterAccess): Promise<void> {
  const kube = await ctx.kube()
  const namespace = ctx.env.argocd.namespace
  await kube.delete({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: 'root', namespace })
  await helmUninstall(ctx.run, {
    name: RELEASE,
    namespace,
    kubeconfig: access.kubeconfig,
    context: access.context,
  })
  const selector = Object.entries(MANAGED_BY)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  for (const ns of ctx.env.namespaces) {
    for (const secret of await kube.list('v1', 'Secret', ns, selector)) {
      await kube.delete({ apiVersion: 'v1', kind: 'Secret', name: secret.metadata.name, namespace: ns })
      ctx.log.detail(`deleted Secret/${ns}/${secret.metadata.name}`)
    }
  }
}

/** How to reach the Argo CD the chart installed: a port-forward, and the command that reads the admin password. */
export function argocdUiHints(ctx: Context, access: ClusterAccess): string[] {
  const kubectl = `kubectl --kubeconfig ${access.kubeconfig}${access.context ? ` --context ${access.context}` : ''} -n ${ctx.env.argocd.namespace}`
  const password = `${kubectl} get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d`
  return [
    `Argo CD UI:      ${kubectl} port-forward svc/argocd-server 8080:80   # then open http://localhost:8080`,
    `admin password:  ${password}`,
    // server.insecure (lib/argocd-settings.ts): the server speaks plain HTTP behind the port-forward.
    `argocd CLI:      argocd login localhost:8080 --plaintext --username admin --password "$(${password})"`,
    `applications:    ${kubectl} get applications   # or: argocd app list`,
  ]
}
