import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { Namespace, Secret } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { CHART_ARGOCD_CM } from '../argocd/chart-cm.ts'
import { argocdCm } from '../argocd/settings.ts'
import { generateIdentity } from '../bootstrap-secrets/age.ts'
import { type EnvConfig, loadConfig } from '../runner/config.ts'
import type { KObject } from './client.ts'
import {
  ageKeySecret,
  argocdConfigMap,
  bootstrapSecret,
  includeMatches,
  MANAGED_BY,
  namespace,
  repositorySecret,
  repositorySecrets,
  rootApplication,
  selectedAppFiles,
} from './manifests.ts'

const decode = (object: KObject) =>
  Object.fromEntries(
    Object.entries(object.data as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, 'base64').toString(),
    ]),
  )

const validSecret = (object: KObject) => expect(() => new Secret(object as never).validate()).not.toThrow()

describe('manifests', () => {
  it("argocd-cm where no chart writes it: the chart's own entries, the runbook's over them, labelled for Argo CD", () => {
    const cm = argocdConfigMap('argocd')
    expect(cm.metadata.labels?.['app.kubernetes.io/part-of']).toBe('argocd')
    const data = cm.data as Record<string, string>
    expect(data).toEqual({ ...CHART_ARGOCD_CM, ...argocdCm })
    // What the chart sets so Argo CD refreshes an Application on a status change only when the
    // resource's health changes, and watches no Endpoints nor Leases.
    expect(data['resource.customizations.ignoreResourceUpdates.all']).toBe('jsonPointers:\n  - /status\n')
    expect(data['resource.exclusions']).toMatch(/- Endpoints\n[\s\S]*- Lease\n/)
  })

  it('namespace: a labelled v1 Namespace that validates', () => {
    const ns = namespace('cert-manager')
    expect(ns).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'cert-manager', labels: MANAGED_BY },
    })
    expect(() => new Namespace(ns as never).validate()).not.toThrow()
  })

  it('namespace: one that was there before create, without our label, is not labelled (destroy never deletes it)', () => {
    const theirs = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cert-manager' } }
    expect(namespace('cert-manager', theirs).metadata).toEqual({ name: 'cert-manager' })
    const ours = { ...theirs, metadata: { name: 'cert-manager', labels: MANAGED_BY } }
    expect(namespace('cert-manager', ours).metadata).toEqual({ name: 'cert-manager', labels: MANAGED_BY })
  })

  it('repositorySecret: labelled as an Argo CD repository, type/url/username/password base64 in data', () => {
    const repo = {
      url: 'https://github.com/example-org/platform-gitops.git',
      username: 'bot',
      passwordField: 'x',
    }
    const secret = repositorySecret('repo-platform', 'argocd', repo, 'ghp_token')
    expect(secret.kind).toBe('Secret')
    expect(secret.type).toBe('Opaque')
    expect(secret.metadata).toMatchObject({ name: 'repo-platform', namespace: 'argocd' })
    expect(secret.metadata.labels).toEqual({ ...MANAGED_BY, 'argocd.argoproj.io/secret-type': 'repository' })
    expect(secret.stringData).toBeUndefined()
    expect(secret.data).toEqual({
      type: Buffer.from('git').toString('base64'),
      url: Buffer.from(repo.url).toString('base64'),
      username: Buffer.from('bot').toString('base64'),
      password: Buffer.from('ghp_token').toString('base64'),
    })
    validSecret(secret)
    // The served URL replaces the canonical one when given.
    expect(decode(repositorySecret('r', 'argocd', repo, 'p', 'file:///gitops-repos/platform')).url).toBe(
      'file:///gitops-repos/platform',
    )
  })

  it('repositorySecrets: the platform repo and one per tenant, with the URLs Argo CD pulls from', () => {
    const env = loadConfig('local')
    const values = { github_token_platform: 'p-token', github_token_tenant: 't-token' }
    const secrets = repositorySecrets(env, values, {
      platformURL: 'file:///served/platform',
      tenantURLs: { 'tenant-a': 'file:///served/tenant-tenant-a' },
    })
    expect(secrets.map((s) => s.metadata.name)).toEqual(['repo-platform-gitops', 'repo-tenant-tenant-a'])
    expect(secrets.map((s) => decode(s))).toEqual([
      { type: 'git', url: 'file:///served/platform', username: 'example-bot', password: 'p-token' },
      { type: 'git', url: 'file:///served/tenant-tenant-a', username: 'example-bot', password: 't-token' },
    ])
    for (const secret of secrets) validSecret(secret)
  })

  it('includeMatches / selectedAppFiles: Argo CD directory.include globs over paths in the apps tree', () => {
    expect(includeMatches('platform/*', 'platform/platform-config.yaml')).toBe(true)
    expect(includeMatches('platform/*', 'tenants/tenant-a.yaml')).toBe(false)
    expect(includeMatches('overlays/local.yaml', 'overlays/local.yaml')).toBe(true)
    expect(includeMatches('overlays/local.yaml', 'overlays/localXyaml')).toBe(false)
    const files = [
      'overlays/dev.yaml',
      'overlays/local.yaml',
      'platform/a.yaml',
      'runtime-secrets/openbao.yaml',
    ]
    expect(selectedAppFiles(['platform/*', 'overlays/local.yaml'], files)).toEqual([
      'overlays/local.yaml',
      'platform/a.yaml',
    ])
    expect(selectedAppFiles([], files)).toEqual(files)
  })

  it('bootstrapSecret: Prune=false, each key filled from its bootstrap field', () => {
    const spec = {
      name: 'cloudflare-api-token',
      namespace: 'cert-manager',
      data: { 'api-token': 'cloudflare_api_token', 'tls.crt': 'cert_field' },
    }
    const secret = bootstrapSecret(spec, {
      cloudflare_api_token: 'cf-123',
      cert_field: 'PEM',
      other: 'not-used',
    })
    expect(secret.metadata).toMatchObject({ name: 'cloudflare-api-token', namespace: 'cert-manager' })
    expect(secret.metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-options': 'Prune=false' })
    expect(secret.metadata.labels).toEqual(MANAGED_BY)
    expect(decode(secret)).toEqual({ 'api-token': 'cf-123', 'tls.crt': 'PEM' })
    validSecret(secret)
  })

  it('ageKeySecret: ksops-age-key / age.agekey with exactly one trailing newline', async () => {
    const { identity } = await generateIdentity()
    const secret = ageKeySecret('argocd', identity)
    expect(secret.metadata).toMatchObject({ name: 'ksops-age-key', namespace: 'argocd' })
    expect(decode(secret)).toEqual({ 'age.agekey': `${identity}\n` })
    expect(decode(ageKeySecret('argocd', `${identity}\n`))).toEqual({ 'age.agekey': `${identity}\n` })
    validSecret(secret)
  })

  describe('rootApplication', () => {
    const local = loadConfig('local')
    const withInclude = (include: string[]): EnvConfig => ({ ...local, gitops: { ...local.gitops, include } })

    it('recurses the apps tree with automated prune, selfHeal and retry backoff, in project default', () => {
      const app = rootApplication(withInclude(['platform/*']), 'file:///gitops-repos/platform')
      expect(app).toMatchObject({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: 'root', namespace: 'argocd', labels: MANAGED_BY },
        spec: {
          project: 'default',
          source: {
            repoURL: 'file:///gitops-repos/platform',
            targetRevision: local.gitops.revision,
            path: local.gitops.rootPath,
            directory: { recurse: true, include: 'platform/*' },
          },
          destination: { server: 'https://kubernetes.default.svc', namespace: 'argocd' },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            retry: { limit: 10, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
          },
        },
      })
      expect(() => new Application(app as never).validate()).not.toThrow()
    })

    it('joins several include globs into one {a,b} glob', () => {
      const app = rootApplication(withInclude(['platform/*', 'tenants/*', 'overlays/local.yaml']), 'x')
      const spec = app.spec as { source: { directory: Record<string, unknown> } }
      expect(spec.source.directory).toEqual({
        recurse: true,
        include: '{platform/*,tenants/*,overlays/local.yaml}',
      })
      expect(() => new Application(app as never).validate()).not.toThrow()
    })

    it('takes the include list from the real config', () => {
      const spec = rootApplication(local, 'x').spec as { source: { directory: { include?: string } } }
      expect(spec.source.directory.include).toBe(`{${local.gitops.include.join(',')}}`)
    })

    it('has no include at all when the list is empty', () => {
      const spec = rootApplication(withInclude([]), 'x').spec as {
        source: { directory: Record<string, unknown> }
      }
      expect(spec.source.directory).toEqual({ recurse: true })
    })
  })
})

describe('what an environment deploys', () => {
  it('OpenBao only where its include selects the openbao chart: step 09, backup and destroy skip it otherwise', async () => {
    const { deploysOpenBao, selectedApplications } = await import('./manifests.ts')
    const { loadConfig } = await import('../runner/config.ts')
    const dev = loadConfig('dev')
    expect(deploysOpenBao(dev)).toBe(true)
    expect(
      deploysOpenBao({ ...dev, gitops: { ...dev.gitops, include: ['platform/*', 'overlays/dev.yaml'] } }),
    ).toBe(false)
    expect(deploysOpenBao(loadConfig('local'))).toBe(false)
    expect(
      selectedApplications(loadConfig('local'))
        .map((app) => app.metadata.name)
        .sort(),
    ).toEqual(['cluster-secrets', 'platform-config', 'tenant-a', 'tenant-onboarding'])
  })
})
