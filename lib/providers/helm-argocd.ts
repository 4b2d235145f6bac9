import { helmValues } from '../argocd/settings.ts'
import { BootstrapError } from '../core/errors.ts'
import { versions } from '../core/versions.ts'
import { waitFor } from '../core/wait.ts'
import { chartMirrorObjects, chartSource, helmChartArgs } from '../helm/chart-mirror.ts'
import { ensureRelease } from '../helm/release.ts'
import type { ClusterAccess, KObject, Kube } from '../kube/client.ts'
import { appliedFrom, crdObjects, readCrdFile } from '../kube/crd-file.ts'
import { isManagedByUs, MANAGED_BY } from '../kube/manifests.ts'
import { describePodFailure, podFailureHint, podFailures, stuckFilter } from '../kube/pod-failures.ts'
import type { Context } from '../runner/context.ts'
import { argocdCrdFiles } from '../tools/artifacts.ts'

/** Argo CD's Helm release on kind and existing clusters (existing-teardown.ts uninstalls it). */
export const ARGOCD_RELEASE = 'argocd'

/**
 * Argo CD from its pinned Helm chart (kind, existing), then the server and repo-server Available.
 * A second create with nothing new writes no Helm revision (lib/helm/release.ts); an Argo CD
 * someone else installed in the namespace is refused, not adopted, unless --force.
 */
export async function installArgoCDChart(
  ctx: Context,
  access: ClusterAccess,
  extra: Parameters<typeof helmValues>[0] = {},
  options: { clusterOnlyHere?: boolean } = {},
): Promise<void> {
  const namespace = ctx.env.argocd.namespace
  const chart = versions.charts.argocd
  ctx.log.detail(`chart ${chart.name} ${chart.version} from ${chartSource(ctx.env, chart)}`)
  const release = {
    name: ARGOCD_RELEASE,
    namespace,
    chart,
    source: helmChartArgs(ctx.env, chart),
    values: helmValues({ namespace, ...extra }),
    kubeconfig: access.kubeconfig,
    context: access.context,
    timeoutSeconds: ctx.env.argocd.timeoutSeconds,
  }
  const kube = await ctx.kube()
  await ensureRelease(ctx, release, {
    whenAbsent: () => refuseForeignArgoCD(kube, namespace),
    wait: false,
    clusterOnlyHere: options.clusterOnlyHere,
  })
  if (ctx.flags.dryRun) return
  await waitForWorkloads(ctx, kube, namespace)
}

interface Workload extends KObject {
  metadata: KObject['metadata'] & { generation?: number }
  spec?: { replicas?: number }
  status?: { observedGeneration?: number; readyReplicas?: number; updatedReplicas?: number }
}

/**
 * Every Deployment and StatefulSet in Argo CD's namespace rolled out and ready. A pod that waiting
 * will not bring up (crashing, no image, a missing Secret) stops the wait at once, naming it, with
 * its last log lines — not after the timeout.
 */
export async function waitForWorkloads(ctx: Context, kube: Kube, namespace: string): Promise<void> {
  let pending: string[] = []
  const stuck = stuckFilter()
  const ready = (w: Workload) =>
    (w.status?.observedGeneration ?? 0) >= (w.metadata.generation ?? 1) &&
    (w.status?.readyReplicas ?? 0) >= (w.spec?.replicas ?? 1) &&
    (w.status?.updatedReplicas ?? 0) >= (w.spec?.replicas ?? 1)
  await waitFor(
    `Argo CD's workloads in namespace ${namespace} to be ready`,
    async () => {
      const [deployments, statefulSets, pods] = await Promise.all([
        kube.list<Workload>('apps/v1', 'Deployment', namespace),
        kube.list<Workload>('apps/v1', 'StatefulSet', namespace),
        kube.list('v1', 'Pod', namespace),
      ])
      const failure = stuck(podFailures(pods))
      if (failure)
        throw new BootstrapError(`Argo CD cannot start: ${await describePodFailure(kube, failure)}`, {
          hint: podFailureHint(failure),
        })
      const workloads = [...deployments, ...statefulSets]
      pending = workloads.filter((w) => !ready(w)).map((w) => `${w.kind}/${w.metadata.name}`)
      return workloads.length > 0 && pending.length === 0 ? workloads : undefined
    },
    {
      timeoutMs: ctx.env.argocd.timeoutSeconds * 1000,
      intervalMs: 1000,
      describeLast: () => `not ready: ${pending.join(', ') || 'no workloads yet'}`,
      hint: `\`kubectl -n ${namespace} get pods\` and \`kubectl -n ${namespace} describe pod <name>\` say why`,
    },
  )
  ctx.log.detail(`Argo CD's Deployments and StatefulSets in ${namespace}: ready`)
}

/**
 * Step 06's objects on kind and existing clusters, applied before the chart: the charts mirror's
 * server (a mirror folder), and the CRDs of the Argo CD version that runs — the chart ships an
 * older version's (its values say crds.install: false). Labelled when this runbook installs them, so
 * destroy knows it did.
 */
export async function chartInstallObjects(ctx: Context): Promise<KObject[]> {
  const kube = await ctx.kube()
  const crds = await Promise.all(
    argocdCrdFiles().map(async (file) => {
      const crd = readCrdFile(file)
      const current = crd.name
        ? await kube.get({
            apiVersion: 'apiextensions.k8s.io/v1',
            kind: 'CustomResourceDefinition',
            name: crd.name,
          })
        : undefined
      if (appliedFrom(current, crd)) {
        ctx.log.detail(`CustomResourceDefinition/${crd.name}: unchanged`)
        return []
      }
      // A CRD that was there before (another Argo CD on the cluster) is updated, never labelled
      // ours: destroy removes only CRDs this runbook installed.
      return crdObjects(crd, current && !isManagedByUs(current) ? {} : MANAGED_BY)
    }),
  )
  return [...(await chartMirrorObjects(ctx.env)), ...crds.flat()]
}

/** The application controller's pods: the chart's label (nameOverride argocd), install.yaml's too. */
export const CONTROLLER_POD_SELECTOR = 'app.kubernetes.io/name=argocd-application-controller'

interface ContainerStatus {
  state?: { running?: { startedAt?: string } }
}

/**
 * When the chart's application controller now running started: the latest start of a running
 * container among its pods (a container the kubelet restarted in place counts from its restart;
 * with shards, the youngest). Undefined when none runs.
 */
export async function chartControllerStartedAt(ctx: Context): Promise<Date | undefined> {
  const kube = await ctx.kube()
  const pods = await kube.list('v1', 'Pod', ctx.env.argocd.namespace, CONTROLLER_POD_SELECTOR)
  const starts = pods.flatMap((pod) =>
    ((pod.status as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses ?? [])
      .map((container) => Date.parse(container.state?.running?.startedAt ?? ''))
      .filter((start) => !Number.isNaN(start)),
  )
  return starts.length ? new Date(Math.max(...starts)) : undefined
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

/** How to reach the Argo CD the chart installed: a port-forward, and the command that reads the admin password. */
export function argocdUiHints(ctx: Context, access: ClusterAccess): string[] {
  const kubectl = `kubectl --kubeconfig ${access.kubeconfig}${access.context ? ` --context ${access.context}` : ''} -n ${ctx.env.argocd.namespace}`
  const password = `${kubectl} get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d`
  return [
    `Argo CD UI:      ${kubectl} port-forward svc/argocd-server 8080:80   # then open http://localhost:8080`,
    `admin password:  ${password}`,
    // server.insecure (lib/argocd/settings.ts): the server speaks plain HTTP behind the port-forward.
    `argocd CLI:      argocd login localhost:8080 --plaintext --username admin --password "$(${password})"`,
    `applications:    ${kubectl} get applications   # or: argocd app list`,
  ]
}
