import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import type { EnvConfig } from '../../lib/runner/config.ts'

/**
 * Two Applications that no amount of waiting makes converge, planted into a workspace's apps tree
 * where every environment's selection already reaches (platform/: the root app's include was set
 * at its creation and Argo CD owns it since): one whose AppProject refuses its destination, one
 * whose manifest the API server rejects. `remove` takes them out again.
 */
export const REFUSED_APP = 'fault-refused-destination'
export const REJECTED_APP = 'fault-rejected-manifest'

export function plantFaults(dir: string, env: EnvConfig): { remove: () => void } {
  const appsDir = join(dir, env.gitops.rootPath, 'platform')
  const manifests = join(dir, 'gitops', 'faults', 'rejected')
  mkdirSync(appsDir, { recursive: true })
  mkdirSync(manifests, { recursive: true })
  const application = (name: string, project: string, source: Record<string, string>, namespace: string) =>
    stringify({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name, namespace: 'argocd', annotations: { 'argocd.argoproj.io/sync-wave': '5' } },
      spec: {
        project,
        source: { targetRevision: 'HEAD', ...source },
        destination: { server: 'https://kubernetes.default.svc', namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          retry: { limit: 10, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
        },
      },
    })
  const tenant = Object.entries(env.gitops.tenantRepos)[0]
  if (!tenant) throw new Error('the environment has no tenant repository to plant a refused app from')
  // The tenant's project allows namespace tenant-a only.
  writeFileSync(
    join(appsDir, `${REFUSED_APP}.yaml`),
    application(REFUSED_APP, tenant[0], { repoURL: tenant[1].url, path: '.' }, 'kube-system'),
  )
  // A name no API server accepts: uppercase and an underscore.
  writeFileSync(
    join(manifests, 'configmap.yaml'),
    stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'Not_A_Valid_Name', namespace: 'default' },
    }),
  )
  writeFileSync(
    join(appsDir, `${REJECTED_APP}.yaml`),
    application(
      REJECTED_APP,
      'default',
      { repoURL: env.gitops.platformRepo.url, path: 'gitops/faults/rejected' },
      'default',
    ),
  )
  return {
    remove: () => {
      for (const name of [REFUSED_APP, REJECTED_APP]) rmSync(join(appsDir, `${name}.yaml`), { force: true })
      rmSync(join(dir, 'gitops', 'faults'), { recursive: true, force: true })
    },
  }
}
