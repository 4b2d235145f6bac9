import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Application, AppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { LimitRange, Namespace, ResourceQuota, Service } from 'kubernetes-models/v1'
import { expect } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { APPLICATION_SYNC_OPTIONS } from '../../lib/argocd/settings.ts'

/**
 * What makes a tenant a tenant, checked on its files whoever wrote them (by hand, or
 * `just tenant add`): the AppProject reaches its own repository and namespace only, with no
 * cluster-scoped kind and never the quota or limits; the Namespace enforces the restricted Pod
 * Security Standard; the Application syncs that repository into that namespace under that
 * project, without making the namespace; the served starter stays in the namespace, within the
 * limit range. Every object is validated against its schema.
 */

const IN_CLUSTER = 'https://kubernetes.default.svc'

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is walked freely; the assertions check it
type Doc = Record<string, any>

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => document.toJS() as Doc | null)
    .filter((doc): doc is Doc => !!doc)
}

function folder(dir: string): Doc[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .flatMap((name) => docs(join(dir, name)))
}

// biome-ignore lint/suspicious/noExplicitAny: each model takes its own kind's shape; a parsed document is passed as is
const MODELS: Record<string, new (doc: any) => { validate(): void }> = {
  AppProject,
  Application,
  Namespace,
  ResourceQuota,
  LimitRange,
  Deployment,
  Service,
}

export function expectTenantConfined(root: string, name: string, repoURL: string): void {
  const platform = folder(join(root, 'gitops/tenants', name))
  const rootDocs = docs(join(root, 'gitops/apps/tenants', `${name}.yaml`))
  const app = rootDocs.find((doc) => doc.kind === 'Application')
  const served = folder(join(root, 'gitops/tenant-repos', name))
  for (const doc of [...platform, ...rootDocs, ...served]) {
    const Model = MODELS[doc.kind]
    expect(Model, `${name}: a ${doc.kind} in the tenant's files`).toBeDefined()
    expect(
      () => new (Model as NonNullable<typeof Model>)(doc).validate(),
      `${doc.kind}/${doc.metadata?.name}`,
    ).not.toThrow()
  }
  const one = (kind: string) => {
    const found = platform.filter((doc) => doc.kind === kind)
    expect(found, `${name}: one ${kind}`).toHaveLength(1)
    return found[0] as Doc
  }

  expect(rootDocs.map((doc) => doc.kind)).toEqual(['AppProject', 'Application'])
  const project = rootDocs[0] as Doc
  expect(platform.filter((doc) => doc.kind === 'AppProject')).toEqual([])
  // A wave before the Application, and held until it is gone (deleting one needs its project).
  expect(project.metadata).toEqual({
    annotations: { 'argocd.argoproj.io/sync-wave': '2' },
    name,
    namespace: 'argocd',
    finalizers: ['resources-finalizer.argocd.argoproj.io'],
  })
  expect(project.spec.sourceRepos).toEqual([repoURL])
  expect(project.spec.destinations).toEqual([{ server: IN_CLUSTER, namespace: name }])
  expect(project.spec.clusterResourceWhitelist).toEqual([])
  expect(project.spec.namespaceResourceBlacklist).toEqual(
    expect.arrayContaining([
      { group: '', kind: 'ResourceQuota' },
      { group: '', kind: 'LimitRange' },
    ]),
  )

  const namespace = one('Namespace')
  expect(namespace.metadata.name).toBe(name)
  expect(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted')
  expect(one('ResourceQuota').metadata.namespace).toBe(name)
  const limits = one('LimitRange')
  expect(limits.metadata.namespace).toBe(name)

  expect(app?.metadata.annotations?.['argocd.argoproj.io/sync-wave']).toBe('3')
  expect(app?.spec.project).toBe(name)
  expect(app?.spec.source.repoURL).toBe(repoURL)
  expect(app?.spec.destination).toEqual({ server: IN_CLUSTER, namespace: name })
  expect(app?.spec.syncPolicy?.syncOptions ?? []).not.toContain('CreateNamespace=true')
  expect(app?.spec.syncPolicy?.syncOptions ?? []).toEqual(
    expect.arrayContaining([...APPLICATION_SYNC_OPTIONS]),
  )

  const max = limits.spec.limits[0].max
  for (const doc of served) {
    expect(doc.metadata.namespace, `${doc.kind}/${doc.metadata.name}`).toBe(name)
    if (doc.kind === 'Service') expect(doc.spec.type ?? 'ClusterIP').toBe('ClusterIP')
    for (const container of doc.spec?.template?.spec?.containers ?? []) {
      expect(cpu(container.resources.limits.cpu)).toBeLessThanOrEqual(cpu(max.cpu))
      expect(mem(container.resources.limits.memory)).toBeLessThanOrEqual(mem(max.memory))
    }
  }
}

const cpu = (value: string) => (value.endsWith('m') ? Number(value.slice(0, -1)) / 1000 : Number(value))
const mem = (value: string) => {
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }
  const unit = value.slice(-2)
  return units[unit] ? Number(value.slice(0, -2)) * (units[unit] as number) : Number(value)
}
