import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application'
import { AppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { LimitRange } from 'kubernetes-models/v1/LimitRange'
import { Namespace } from 'kubernetes-models/v1/Namespace'
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota'
import { Service } from 'kubernetes-models/v1/Service'
import { stringify } from 'yaml'
import { APPLICATION_SYNC_OPTIONS } from '../argocd/settings.ts'

/**
 * What a tenant is on the platform, as files of the platform repository: its Namespace,
 * ResourceQuota and LimitRange, the AppProject that fences it in (its own repository, its own
 * namespace, no cluster-scoped kind, never the quota or limits), and the Application that syncs its
 * repository into that namespace. Plus a starter for the repository the checkout serves in its
 * place on dev and local (one Deployment and its Service, within the quota and the restricted Pod
 * Security Standard). Each object is validated by kubernetes-models before it is written.
 * The AppProject is the root's, in the Application's file: the root prunes the two in reverse
 * wave order, so the project outlives the Application (gitops-engine sync_context.go).
 */
export interface TenantFile {
  /** Path from the checkout's root. */
  path: string
  text: string
}

const IN_CLUSTER = 'https://kubernetes.default.svc'
const ARGOCD_NAMESPACE = 'argocd'
const RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io'

export function tenantFiles(name: string, repoURL: string): TenantFile[] {
  const labels = { 'app.kubernetes.io/name': 'hello', 'app.kubernetes.io/part-of': name }
  type Model = { validate(): void; toJSON(): unknown }
  const doc = (comment: string, model: Model) => {
    model.validate()
    return `${comment.replace(/^/gm, '# ')}\n${stringify(model.toJSON())}`
  }
  const file = (path: string, comment: string, model: Model) => ({ path, text: doc(comment, model) })
  return [
    file(
      `gitops/tenants/${name}/namespace.yaml`,
      `Tenant ${name}'s namespace, made by the platform: the tenant may create no cluster-scoped object.\nIt admits only pods that pass the restricted Pod Security Standard.`,
      new Namespace({
        metadata: {
          name,
          labels: { 'platform.example.org/tenant': name, 'pod-security.kubernetes.io/enforce': 'restricted' },
        },
      }),
    ),
    file(
      `gitops/tenants/${name}/resource-quota.yaml`,
      `What tenant ${name} may use in total. Owned by the platform: AppProject ${name} blacklists\nResourceQuota, so the tenant's Application can neither change nor add one.`,
      new ResourceQuota({
        metadata: { name, namespace: name },
        spec: {
          hard: {
            'requests.cpu': '2',
            'requests.memory': '4Gi',
            'limits.cpu': '4',
            'limits.memory': '8Gi',
            pods: '20',
            services: '10',
            'services.loadbalancers': '0',
            'services.nodeports': '0',
            persistentvolumeclaims: '5',
            'requests.storage': '20Gi',
          },
        },
      }),
    ),
    file(
      `gitops/tenants/${name}/limit-range.yaml`,
      `Per-container defaults and bounds in tenant ${name}'s namespace: a container without resources\nstill gets requests and limits, so the ResourceQuota can admit it. Platform-owned, like the quota.`,
      new LimitRange({
        metadata: { name, namespace: name },
        spec: {
          limits: [
            {
              type: 'Container',
              defaultRequest: { cpu: '50m', memory: '64Mi' },
              default: { cpu: '250m', memory: '256Mi' },
              min: { cpu: '10m', memory: '16Mi' },
              max: { cpu: '1', memory: '1Gi' },
            },
          ],
        },
      }),
    ),
    {
      path: `gitops/apps/tenants/${name}.yaml`,
      text: [
        doc(
          `Tenant ${name}'s authorisation boundary: its own repository only, its own namespace only, no\ncluster-scoped kinds, and never the ResourceQuota or LimitRange the platform sets. Made by the\nroot with the Application below, a wave before it; when the tenant goes, the root prunes in\nreverse wave order (the Application, then this), and the finalizer holds the project until the\nApplication is gone (deleting an Application needs its project).`,
          new AppProject({
            metadata: {
              name,
              namespace: ARGOCD_NAMESPACE,
              annotations: { 'argocd.argoproj.io/sync-wave': '2' },
              finalizers: [RESOURCES_FINALIZER],
            },
            spec: {
              description: `Tenant ${name}'s workloads`,
              sourceRepos: [repoURL],
              destinations: [{ server: IN_CLUSTER, namespace: name }],
              clusterResourceWhitelist: [],
              namespaceResourceBlacklist: [
                { group: '', kind: 'ResourceQuota' },
                { group: '', kind: 'LimitRange' },
              ],
              orphanedResources: { warn: true },
            },
          }),
        ),
        doc(
          `Tenant ${name}'s workloads, from the tenant's own repository (its root holds the manifests),\nconfined by AppProject ${name} (above) to that repository and namespace ${name}. Wave 3: the\nAppProject, Namespace, quota and limits come first (wave 2: above, and tenant-onboarding). No CreateNamespace: the\nplatform made the namespace.`,
          new Application({
            metadata: {
              name,
              namespace: ARGOCD_NAMESPACE,
              annotations: { 'argocd.argoproj.io/sync-wave': '3' },
              finalizers: [RESOURCES_FINALIZER],
            },
            spec: {
              project: name,
              source: { repoURL, targetRevision: 'HEAD', path: '.' },
              destination: { server: IN_CLUSTER, namespace: name },
              syncPolicy: {
                automated: { prune: true, selfHeal: true },
                syncOptions: [...APPLICATION_SYNC_OPTIONS],
                retry: { limit: 10, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
              },
            },
          }),
        ),
      ].join('---\n'),
    },
    file(
      `gitops/tenant-repos/${name}/deployment.yaml`,
      `Tenant ${name}'s starter workload. This folder stands in for the tenant's own repository on dev\nand local (the checkout serves it as such). It stays inside namespace ${name}, its quota and its\nlimit range, and passes the restricted Pod Security Standard. The pause image does nothing.`,
      new Deployment({
        metadata: { name: 'hello', namespace: name, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { 'app.kubernetes.io/name': 'hello' } },
          template: {
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 65535,
                runAsGroup: 65535,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'hello',
                  image: 'registry.k8s.io/pause:3.10',
                  ports: [{ name: 'http', containerPort: 8080 }],
                  resources: {
                    requests: { cpu: '10m', memory: '16Mi' },
                    limits: { cpu: '50m', memory: '32Mi' },
                  },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ['ALL'] },
                  },
                },
              ],
            },
          },
        },
      }),
    ),
    file(
      `gitops/tenant-repos/${name}/service.yaml`,
      `A ClusterIP Service in front of the starter workload: no NodePort or LoadBalancer, which the\ntenant's quota forbids.`,
      new Service({
        metadata: { name: 'hello', namespace: name, labels },
        spec: {
          type: 'ClusterIP',
          selector: { 'app.kubernetes.io/name': 'hello' },
          ports: [{ name: 'http', port: 80, targetPort: 'http' }],
        },
      }),
    ),
  ]
}

/** The folders and files `tenantFiles` writes for a tenant: what `tenant remove` takes away. */
export function tenantPaths(name: string): string[] {
  return [`gitops/tenants/${name}`, `gitops/apps/tenants/${name}.yaml`, `gitops/tenant-repos/${name}`]
}
