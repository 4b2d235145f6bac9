import { helmValues } from '../argocd-settings.ts'
import type { Context } from '../context.ts'
import { BootstrapError } from '../errors.ts'
import { helmUninstall } from '../helm.ts'
import { ensureRelease } from '../helm-release.ts'
import { type ClusterAccess, type KObject, type Kube, waitForObject } from '../kube.ts'
import { MANAGED_BY } from '../manifests.ts'
import { versions } from '../versions.ts'

const RELEASE = 'argocd'

/**
 * Argo CD from its pinned Helm chart (kind, existing), then the server and repo-server Available.
 * A second create with nothing new writes no Helm revision (lib/helm-release.ts); an Argo CD
 * someone else installed in the namespace is refused, not adopted, unless --force.
 */
export async function installArgoCDChart(
  ctx: Context,
  access: ClusterAccess,
  extra: Parameters<typeof helmValues>[0] = {},
): Promise<void> {
  const namespace = ctx.env.argocd.namespace
  const release = {
    name: RELEASE,
    namespace,
    chart: versions.charts.argocd,
    values: helmValues({ namespace, ...extra }),
    kubeconfig: access.kubeconfig,
    context: access.context,
    timeoutSeconds: ctx.env.argocd.timeoutSeconds,
  }
  const kube = await ctx.kube()
  await ensureRelease(ctx, release, { whenAbsent: () => refuseForeignArgoCD(kube, namespace) })
  if (ctx.flags.dryRun) return
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

/** No release of ours, but Argo CD's workloads in the namespace: someone else runs this Argo CD. */
async function refuseForeignArgoCD(kube: Kube, namespace: string): Promise<void> {
  const found: string[] = []
  for (const [kind, name] of [
    ['Deployment', 'argocd-server'],
    ['Deployment', 'argocd-repo-server'],
    ['StatefulSet', 'argocd-application-controller'],
  ] as const)
    if (await kube.get({ apiVersion: 'apps/v1', kind, name, namespace })) found.push(`${kind}/${name}`)
  if (found.length)
    throw new BootstrapError(
      `Argo CD already runs in namespace ${namespace} (${found.join(', ')}), but not from a Helm release platform-bootstrap made: not adopting it`,
      {
        hint: `install into another namespace (argocd.namespace in the environment's config), or run again with --force to let this runbook's Helm release take those objects over`,
        exitCode: 2,
      },
    )
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
