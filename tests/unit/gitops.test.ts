import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { Application, AppProject } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { execaSync } from 'execa'
import { Deployment } from 'kubernetes-models/apps/v1'
import { LimitRange, Namespace, ResourceQuota, Service, ServiceAccount } from 'kubernetes-models/v1'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments, stringify } from 'yaml'
import {
  APPLICATION_SYNC_OPTIONS,
  argocdCm,
  ksopsPluginPath,
  ksopsStandin,
  repoServerEnv,
} from '../../lib/argocd/settings.ts'
import { HEALTHY_AFTER_LABEL } from '../../lib/argocd/status.ts'
import { ProcessError } from '../../lib/core/errors.ts'
import { run } from '../../lib/core/exec.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { versions } from '../../lib/core/versions.ts'
import { includeMatches, selectedAppFiles } from '../../lib/kube/manifests.ts'
import { listEnvironments, loadConfig } from '../../lib/runner/config.ts'
import { encryptYaml } from '../../lib/sops/index.ts'
import { toolsPath } from '../../lib/tools/index.ts'
import { steps } from '../../scripts/steps.ts'
import { expectTenantConfined } from '../assertions/tenant-checks.ts'

/**
 * The committed GitOps tree: every manifest against its real schema, the project locks,
 * the sync-wave order, every path an Application names, each environment's selection of
 * Applications, and an overlay rendered through kustomize, the KSOPS stand-in and the real sops.
 */

const gitops = join(repoRoot, 'gitops')
const appsDir = join(gitops, 'apps')
const PLATFORM_REPO = 'https://github.com/example-org/platform-gitops.git'
const TENANT_REPOS: Record<string, string> = {
  'tenant-a': 'https://github.com/example-tenant/tenant-gitops.git',
}
const IN_CLUSTER = 'https://kubernetes.default.svc'
const ENVIRONMENTS = ['dev', 'staging', 'prod', 'local']

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and chart values are walked freely; the schemas and assertions check them
type Doc = Record<string, any>
interface Manifest {
  file: string
  doc: Doc
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => /\.ya?ml$/.test(rel))
    .map((rel) => join(dir, rel))
    .sort()
}

/** KSOPS inputs are not Kubernetes objects, and secret files are ciphertext (or absent). */
function isManifestFile(file: string): boolean {
  const name = file.split('/').pop() ?? ''
  return name !== 'kustomization.yaml' && name !== 'secret-generator.yaml' && !name.endsWith('.secret.yaml')
}

function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length) throw new Error(`${relative(repoRoot, file)}: ${document.errors[0]?.message}`)
    return document.toJS() as Doc
  })
}

const manifests: Manifest[] = yamlFiles(gitops)
  .filter(isManifestFile)
  .flatMap((file) =>
    load(file)
      .filter(Boolean)
      .map((doc) => ({ file: relative(repoRoot, file), doc })),
  )

// biome-ignore lint/suspicious/noExplicitAny: each model takes its own typed input; the parsed YAML is what is checked
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ResourceQuota': ResourceQuota,
  'v1/LimitRange': LimitRange,
  'apps/v1/Deployment': Deployment,
  'argoproj.io/v1alpha1/Application': Application,
  'argoproj.io/v1alpha1/AppProject': AppProject,
}

const applications = yamlFiles(appsDir).map((file) => {
  const docs = load(file)
  const found = docs.filter((doc) => doc.kind === 'Application')
  return {
    rel: relative(appsDir, file),
    doc: found[0] as Doc,
    count: found.length,
    others: docs.filter((doc) => doc.kind !== 'Application'),
  }
})
const app = (name: string) => {
  const found = applications.filter((a) => a.doc.metadata?.name === name)
  if (found.length !== 1) throw new Error(`expected one Application ${name}, found ${found.length}`)
  return found[0]?.doc as Doc
}
const wave = (doc: Doc) => Number(doc.metadata?.annotations?.['argocd.argoproj.io/sync-wave'])
const find = (kind: string, name: string, namespace?: string) => {
  const found = manifests.filter(
    (m) => m.doc.kind === kind && m.doc.metadata?.name === name && m.doc.metadata?.namespace === namespace,
  )
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${namespace ?? ''}/${name}, found ${found.length}`)
  return found[0]?.doc as Doc
}

describe('every manifest under gitops/', () => {
  it('finds manifests to check', () => {
    expect(manifests.length).toBeGreaterThan(15)
  })

  it.each(manifests.map((m) => [`${m.file}: ${m.doc.kind}/${m.doc.metadata?.name}`, m] as const))(
    'validates against its schema: %s',
    (_, { doc }) => {
      const key = `${doc.apiVersion}/${doc.kind}`
      if (key === 'secrets-store.csi.x-k8s.io/v1/SecretProviderClass') return checkSecretProviderClass(doc)
      const Model = MODELS[key]
      if (!Model) throw new Error(`no model for ${key}: add one to MODELS, or a hand check`)
      expect(() => new Model(doc).validate()).not.toThrow()
      expect(doc.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    },
  )

  it('has one Application per file under gitops/apps, and nothing else there but a tenant’s AppProject', () => {
    for (const { rel, doc, count, others } of applications) {
      expect(count, rel).toBe(1)
      expect(doc.kind, rel).toBe('Application')
      // A tenant's project, a wave before its Application: the root prunes the two in reverse order.
      if (rel.startsWith('tenants/')) {
        expect(
          others.map((o) => o.kind),
          rel,
        ).toEqual(['AppProject'])
        expect(others[0]?.metadata.name, rel).toBe(doc.spec.project)
        expect(wave(others[0] as Doc), rel).toBeLessThan(wave(doc))
      } else expect(others, rel).toEqual([])
    }
  })
})

/**
 * No model is published for the Secrets Store CSI driver's CRD (`@kubernetes-models/secrets-store-csi-driver`
 * is not on npm), so its fields are checked by hand against apis/v1/secretproviderclass_types.go.
 */
function checkSecretProviderClass(doc: Doc): void {
  expect(doc.metadata?.name).toBeTypeOf('string')
  expect(doc.metadata?.namespace).toBeTypeOf('string')
  expect(Object.keys(doc.spec).every((k) => ['provider', 'parameters', 'secretObjects'].includes(k))).toBe(
    true,
  )
  expect(doc.spec.provider).toBeTypeOf('string')
  for (const value of Object.values(doc.spec.parameters)) expect(value).toBeTypeOf('string')
  const objects = spcObjects(doc)
  expect(objects.length).toBeGreaterThan(0)
  for (const object of objects) {
    expect(Object.keys(object).sort()).toEqual(['objectName', 'secretKey', 'secretPath'])
    for (const value of Object.values(object)) expect(value).toBeTypeOf('string')
  }
  for (const secret of doc.spec.secretObjects ?? []) {
    expect(secret.secretName).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
    expect(secret.type).toBeTypeOf('string')
    expect(secret.data.length).toBeGreaterThan(0)
    for (const entry of secret.data) {
      expect(Object.keys(entry).sort()).toEqual(['key', 'objectName'])
      // The driver syncs only objects the provider fetched.
      expect(objects.map((o) => o.objectName)).toContain(entry.objectName)
    }
  }
}

function spcObjects(doc: Doc): { objectName: string; secretPath: string; secretKey: string }[] {
  return parse(doc.spec.parameters.objects) as { objectName: string; secretPath: string; secretKey: string }[]
}

describe('projects', () => {
  it('locks the default project to the platform repository (plus the pinned chart repositories)', () => {
    const project = find('AppProject', 'default', 'argocd')
    const chartRepos = applications
      .map((a) => a.doc.spec.source)
      .filter((s) => s.chart)
      .map((s) => s.repoURL)
    expect(project.spec.sourceRepos[0]).toBe(PLATFORM_REPO)
    expect(project.spec.sourceRepos).not.toContain('*')
    expect(new Set(project.spec.sourceRepos)).toEqual(new Set([PLATFORM_REPO, ...chartRepos]))
    expect(project.spec.destinations).toEqual([{ server: IN_CLUSTER, namespace: '*' }])
    expect(project.spec.clusterResourceWhitelist).toEqual([{ group: '*', kind: '*' }])
    expect(project.spec.description).toBe('Platform-managed resources only')
  })

  it('gives tenant-a exactly its project: its repository, its namespace, no cluster-scoped object', () => {
    expect(find('AppProject', 'tenant-a', 'argocd')).toEqual({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: {
        name: 'tenant-a',
        namespace: 'argocd',
        annotations: { 'argocd.argoproj.io/sync-wave': '2' },
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        description: 'Tenant workloads',
        sourceRepos: [TENANT_REPOS['tenant-a']],
        destinations: [{ server: IN_CLUSTER, namespace: 'tenant-a' }],
        clusterResourceWhitelist: [],
        namespaceResourceBlacklist: [
          { group: '', kind: 'ResourceQuota' },
          { group: '', kind: 'LimitRange' },
        ],
        orphanedResources: { warn: true },
      },
    })
  })

  it('confines every tenant under gitops/tenants to its repository and namespace (tests/assertions/tenant-checks.ts)', () => {
    const tenants = readdirSync(join(gitops, 'tenants'))
    expect(tenants).toContain('tenant-a')
    for (const tenant of tenants) {
      const url = loadConfig('dev').gitops.tenantRepos[tenant]?.url
      expect(url, `${tenant} in dev's gitops.tenantRepos`).toBeDefined()
      expectTenantConfined(repoRoot, tenant, url as string)
    }
  })

  it('onboards tenant-a with its namespace, quota and limit range', () => {
    expect(find('Namespace', 'tenant-a').metadata.name).toBe('tenant-a')
    expect(find('ResourceQuota', 'tenant-a', 'tenant-a').spec.hard).toBeDefined()
    expect(find('LimitRange', 'tenant-a', 'tenant-a').spec.limits.length).toBeGreaterThan(0)
  })

  it('keeps the tenant workload inside namespace tenant-a and its limit range', () => {
    const tenantManifests = manifests.filter((m) => m.file.startsWith('gitops/tenant-repos/tenant-a/'))
    expect(tenantManifests.map((m) => m.doc.kind).sort()).toEqual(['Deployment', 'Service'])
    const limits = find('LimitRange', 'tenant-a', 'tenant-a').spec.limits[0]
    for (const { doc } of tenantManifests) expect(doc.metadata.namespace).toBe('tenant-a')
    const deployment = tenantManifests.find((m) => m.doc.kind === 'Deployment')?.doc as Doc
    for (const container of deployment.spec.template.spec.containers) {
      expect(cpu(container.resources.limits.cpu)).toBeLessThanOrEqual(cpu(limits.max.cpu))
      expect(cpu(container.resources.requests.cpu)).toBeGreaterThanOrEqual(cpu(limits.min.cpu))
      expect(mem(container.resources.limits.memory)).toBeLessThanOrEqual(mem(limits.max.memory))
      expect(mem(container.resources.requests.memory)).toBeGreaterThanOrEqual(mem(limits.min.memory))
    }
    const service = tenantManifests.find((m) => m.doc.kind === 'Service')?.doc as Doc
    expect(service.spec.type).toBe('ClusterIP')
  })
})

const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q))
const mem = (q: string) => Number(q.replace(/(Mi|Gi)$/, '')) * (q.endsWith('Gi') ? 1024 : 1)

describe('Applications', () => {
  it.each(applications.map((a) => [a.rel, a.doc] as const))(
    '%s syncs itself, retries with backoff and has a wave',
    (_, doc) => {
      expect(doc.metadata.namespace).toBe('argocd')
      expect(doc.metadata.finalizers).toEqual(['resources-finalizer.argocd.argoproj.io'])
      expect(doc.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true })
      const retry = doc.spec.syncPolicy.retry
      expect(retry.limit).toBeGreaterThan(0)
      expect(retry.backoff).toEqual({
        duration: expect.stringMatching(/^\d+s$/),
        factor: 2,
        maxDuration: expect.stringMatching(/^\d+m$/),
      })
      expect(doc.metadata.annotations['argocd.argoproj.io/sync-wave']).toMatch(/^-?\d+$/)
      expect(doc.spec.destination.server).toBe(IN_CLUSTER)
    },
  )

  it('orders the waves: cluster secrets, platform config, tenant onboarding, tenant apps', () => {
    const overlay = applications.find((a) => a.rel === 'overlays/local.yaml')?.doc as Doc
    const order = [
      wave(overlay),
      ...['platform-config', 'tenant-onboarding', 'tenant-a'].map((name) => wave(app(name))),
    ]
    expect(order).toEqual([...order].sort((a, b) => a - b))
    expect(new Set(order).size).toBe(order.length)
    // Every overlay app is the same app in another environment: same wave (wave 0).
    for (const env of ENVIRONMENTS)
      expect(wave(applications.find((a) => a.rel === `overlays/${env}.yaml`)?.doc as Doc)).toBe(0)
  })

  it('puts the runtime secrets after the bootstrap secrets and the platform config, driver before OpenBao before consumers', () => {
    const platform = applications.filter((a) => !a.rel.startsWith('runtime-secrets/')).map((a) => wave(a.doc))
    const runtime = ['secrets-store-csi-driver', 'openbao', 'secret-consumers'].map((name) => wave(app(name)))
    expect(Math.min(...runtime)).toBeGreaterThan(Math.max(...platform))
    expect(runtime).toEqual([...runtime].sort((a, b) => a - b))
    expect(new Set(runtime).size).toBe(runtime.length)
  })

  it('names a path that exists, in the repository it pulls from', () => {
    for (const { rel, doc } of applications) {
      const source = doc.spec.source
      if (source.chart) continue
      const root =
        source.repoURL === PLATFORM_REPO
          ? repoRoot
          : join(
              gitops,
              'tenant-repos',
              Object.entries(TENANT_REPOS).find(([, url]) => url === source.repoURL)?.[0] ?? '?',
            )
      const dir = join(root, source.path)
      expect(existsSync(dir) && statSync(dir).isDirectory(), `${rel}: ${source.repoURL} ${source.path}`).toBe(
        true,
      )
      expect(yamlFiles(dir).length, `${rel}: ${source.path} holds no manifest`).toBeGreaterThan(0)
    }
  })

  it('keeps tenant apps in their own project, and platform apps in the locked default project', () => {
    for (const { rel, doc } of applications) {
      const tenant = Object.entries(TENANT_REPOS).find(([, url]) => url === doc.spec.source.repoURL)?.[0]
      expect(doc.spec.project, rel).toBe(tenant ?? 'default')
      if (tenant) expect(doc.spec.destination.namespace).toBe(tenant)
    }
  })

  it('gives every Application the platform sync options (lib/argocd/settings.ts APPLICATION_SYNC_OPTIONS)', () => {
    for (const { rel, doc } of applications)
      expect(doc.spec.syncPolicy?.syncOptions ?? [], rel).toEqual(
        expect.arrayContaining([...APPLICATION_SYNC_OPTIONS]),
      )
  })

  it('labels healthy-after only with a step of the runbook, and the secret consumers with openbao-setup', () => {
    const stepNames = steps.map((step) => step.name)
    const labelled = applications.filter((a) => a.doc.metadata.labels?.[HEALTHY_AFTER_LABEL] !== undefined)
    for (const { rel, doc } of labelled)
      expect(stepNames, rel).toContain(doc.metadata.labels[HEALTHY_AFTER_LABEL])
    // Their pods mount secrets only OpenBao serves, and only once 09 made its auth, roles and values.
    expect(labelled.map((a) => [a.doc.metadata.name, a.doc.metadata.labels[HEALTHY_AFTER_LABEL]])).toEqual([
      ['secret-consumers', 'openbao-setup'],
    ])
  })

  it('pins every chart to lib/core/versions.ts', () => {
    const charts = Object.values(versions.charts)
    for (const { rel, doc } of applications.filter((a) => a.doc.spec.source.chart)) {
      const { repoURL, chart, targetRevision } = doc.spec.source
      expect(charts, rel).toContainEqual({ repo: repoURL, name: chart, version: targetRevision })
    }
  })
})

describe('environments', () => {
  const appFiles = applications.map((a) => a.rel)
  const runtimeApps = appFiles.filter((rel) => rel.startsWith('runtime-secrets/'))

  it.each(listEnvironments())('%s selects its own overlay and Applications with unique names', (envName) => {
    const env = loadConfig(envName)
    expect(env.gitops.platformRepo.url).toBe(PLATFORM_REPO)
    for (const [tenant, repo] of Object.entries(env.gitops.tenantRepos))
      expect(repo.url).toBe(TENANT_REPOS[tenant])
    expect(env.gitops.rootPath).toBe('gitops/apps')
    for (const glob of env.gitops.include)
      expect(
        appFiles.some((rel) => includeMatches(glob, rel)),
        `include ${glob}`,
      ).toBe(true)
    const selected = selectedAppFiles(env.gitops.include, appFiles)
    expect(selected.length).toBeGreaterThan(0)
    expect(selected.filter((rel) => rel.startsWith('overlays/'))).toEqual([`overlays/${envName}.yaml`])
    const names = selected.map((rel) => applications.find((a) => a.rel === rel)?.doc.metadata.name)
    expect(new Set(names).size, `duplicate Application names in ${envName}: ${names}`).toBe(names.length)
  })

  it('leaves the runtime-secrets apps out of local (their charts and images need the internet)', () => {
    const selected = selectedAppFiles(loadConfig('local').gitops.include, appFiles)
    expect(runtimeApps.length).toBeGreaterThan(0)
    for (const rel of runtimeApps) expect(selected).not.toContain(rel)
    for (const name of ['platform-config', 'tenant-onboarding', 'tenant-a', 'cluster-secrets'])
      expect(
        selected.some((rel) => applications.find((a) => a.rel === rel)?.doc.metadata.name === name),
        name,
      ).toBe(true)
  })
})

describe('runtime secrets', () => {
  const env = loadConfig('local')
  const spcs = manifests.filter((m) => m.doc.kind === 'SecretProviderClass').map((m) => m.doc)

  it('has a consumer for every OpenBao app in the config, bound to its ServiceAccount and its own KV path', () => {
    expect(spcs.map((s) => `${s.metadata.namespace}/${s.spec.parameters.roleName}`).sort()).toEqual(
      env.openbao.apps.map((a) => `${a.namespace}/${a.name}`).sort(),
    )
    for (const bao of env.openbao.apps) {
      const spc = spcs.find((s) => s.spec.parameters.roleName === bao.name) as Doc
      expect(spc.spec.provider).toBe('openbao')
      for (const object of spcObjects(spc)) {
        expect(object.secretPath).toBe(`secret/data/${bao.name}`)
        expect(Object.keys(bao.secrets)).toContain(object.secretKey)
      }
      find('Namespace', bao.namespace)
      find('ServiceAccount', bao.serviceAccount, bao.namespace)
      const deployment = find('Deployment', bao.name, bao.namespace).spec.template.spec
      expect(deployment.serviceAccountName).toBe(bao.serviceAccount)
      const volume = deployment.volumes.find((v: Doc) => v.csi)
      expect(volume.csi).toEqual({
        driver: 'secrets-store.csi.k8s.io',
        readOnly: true,
        volumeAttributes: { secretProviderClass: spc.metadata.name },
      })
      expect(deployment.containers[0].volumeMounts).toContainEqual({
        name: volume.name,
        mountPath: '/mnt/secrets',
        readOnly: true,
      })
    }
  })

  it('pattern A: grafana reads a file, no Secret is made', () => {
    const spc = find('SecretProviderClass', 'grafana', 'monitoring')
    expect(spc.spec.secretObjects).toBeUndefined()
    expect(spcObjects(spc)).toEqual([
      { objectName: 'ADMIN_PASSWORD', secretPath: 'secret/data/grafana', secretKey: 'admin-password' },
    ])
    const container = find('Deployment', 'grafana', 'monitoring').spec.template.spec.containers[0]
    expect(container.env).toContainEqual({
      name: 'GF_SECURITY_ADMIN_PASSWORD__FILE',
      value: '/mnt/secrets/ADMIN_PASSWORD',
    })
  })

  it('pattern B: harbor gets Secret harbor-admin synced and reads it as env, while mounting the volume', () => {
    const spc = find('SecretProviderClass', 'harbor', 'harbor')
    expect(spc.spec.secretObjects).toEqual([
      {
        secretName: 'harbor-admin',
        type: 'Opaque',
        data: [{ objectName: 'admin-password', key: 'HARBOR_ADMIN_PASSWORD' }],
      },
    ])
    const container = find('Deployment', 'harbor', 'harbor').spec.template.spec.containers[0]
    expect(container.env).toContainEqual({
      name: 'HARBOR_ADMIN_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'harbor-admin', key: 'HARBOR_ADMIN_PASSWORD' } },
    })
  })

  it('unseals OpenBao from the bootstrap Secret, mounted as a file', () => {
    const values = app('openbao').spec.source.helm.valuesObject
    const unseal = env.bootstrapSecrets.find((s) => s.name === 'openbao-unseal-key') as {
      namespace: string
      data: Record<string, string>
    }
    expect(app('openbao').spec.destination.namespace).toBe(unseal.namespace)
    expect(values.server.volumes).toContainEqual({
      name: 'unseal-key',
      secret: { secretName: 'openbao-unseal-key', defaultMode: 0o440 },
    })
    const mount = values.server.volumeMounts.find((m: Doc) => m.name === 'unseal-key')
    const keyFile = /current_key\s*=\s*"file:\/\/([^"]+)"/.exec(values.server.standalone.config)?.[1]
    expect(keyFile).toBe(`${mount.mountPath}/${Object.keys(unseal.data)[0]}`)
    expect(values.server.standalone.config).toMatch(/seal "static" \{/)
    expect(values.server.standalone.config).toMatch(/storage "raft" \{[^}]*performance_multiplier = 1\n/)
    expect(values.server.standalone.enabled).toBe(true)
    expect(values.injector.enabled).toBe(false)
    expect(values.csi.enabled).toBe(true)
    expect(values.server.image.tag).toBe(versions.openbao)
  })

  it('syncs secrets into Kubernetes Secrets (pattern B needs it)', () => {
    expect(app('secrets-store-csi-driver').spec.source.helm.valuesObject.syncSecret).toEqual({
      enabled: true,
    })
  })
})

describe('overlays', () => {
  it.each(ENVIRONMENTS)('%s: a KSOPS legacy exec generator listing ./secrets/*.secret.yaml files', (env) => {
    const dir = join(gitops, 'overlays', env)
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))
    expect(kustomization.generators).toEqual(['secret-generator.yaml'])
    const generator = parse(readFileSync(join(dir, 'secret-generator.yaml'), 'utf8'))
    expect(generator).toMatchObject({ apiVersion: 'viaduct.ai/v1', kind: 'ksops' })
    // With the function annotation kustomize would run `ksops` from PATH as a KRM function and
    // skip the plugin tree the repo-server and the local provider fill.
    expect(generator.metadata.annotations?.['config.kubernetes.io/function']).toBeUndefined()
    expect(generator.files.length).toBeGreaterThan(0)
    for (const file of generator.files) expect(file).toMatch(/^\.\/secrets\/[a-z0-9-]+\.secret\.yaml$/)
  })

  it.each(ENVIRONMENTS)('%s: every secret file that exists is SOPS-encrypted', (env) => {
    const generator = parse(readFileSync(join(gitops, 'overlays', env, 'secret-generator.yaml'), 'utf8'))
    for (const file of generator.files as string[]) {
      const path = join(gitops, 'overlays', env, file)
      if (!existsSync(path)) continue
      const doc = parse(readFileSync(path, 'utf8'))
      expect(doc.sops?.mac, `${path} is not SOPS-encrypted`).toMatch(/^ENC\[/)
      for (const value of Object.values<string>(doc.stringData ?? doc.data ?? {}))
        expect(value).toMatch(/^ENC\[/)
    }
  })
})

/** The pinned binaries, found the way `run` finds them: the tools cache first on PATH. */
function which(name: string): string | undefined {
  for (const dir of toolsPath().split(delimiter))
    if (dir && existsSync(join(dir, name))) return join(dir, name)
  return undefined
}
const kustomizeCmd = which('kustomize')
  ? ['kustomize', 'build']
  : which('kubectl')
    ? ['kubectl', 'kustomize']
    : undefined
const haveTools = Boolean(kustomizeCmd && which('sops') && which('age-keygen'))

describe.skipIf(!haveTools)(
  'rendering an overlay through kustomize, the KSOPS stand-in and the real sops',
  () => {
    let tmp: string
    let env: Record<string, string>
    let recipient: string
    let otherRecipient: string

    beforeAll(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'gitops-render-'))
      // The same layout as the repo-server: the key file named after the Secret key, the plugin
      // under KUSTOMIZE_PLUGIN_HOME, the environment from lib/argocd/settings.ts.
      const paths = {
        configHome: join(tmp, 'config'),
        ageKeyDir: join(tmp, 'config', 'sops', 'age'),
        pluginHome: join(tmp, 'plugins'),
        gitConfigDir: join(tmp, 'git'),
        servedRepos: join(tmp, 'repos'),
      }
      // kustomize leaves its plugin's config file in TMPDIR when the plugin fails: here, in the workspace.
      env = { ...repoServerEnv(paths), TMPDIR: join(tmp, 'tmp') }
      await mkdir(env.TMPDIR as string)
      await mkdir(paths.ageKeyDir, { recursive: true })
      const plugin = ksopsPluginPath(paths.pluginHome)
      await mkdir(dirname(plugin), { recursive: true })
      await cp(ksopsStandin, plugin)
      await chmod(plugin, 0o755)
      await run('age-keygen', ['-o', env.SOPS_AGE_KEY_FILE as string])
      recipient = (await run('age-keygen', ['-y', env.SOPS_AGE_KEY_FILE as string])).stdout.trim()
      await run('age-keygen', ['-o', join(tmp, 'other.agekey')])
      otherRecipient = (await run('age-keygen', ['-y', join(tmp, 'other.agekey')])).stdout.trim()
    }, 60_000)

    afterAll(async () => {
      if (tmp) await rm(tmp, { recursive: true, force: true })
    })

    /** A copy of the overlay without its secret files, with each listed file encrypted to `to`. */
    async function overlayCopy(
      envName: string,
      values: Record<string, string>,
      to: (file: string) => string,
    ): Promise<string> {
      const dir = join(tmp, `overlay-${envName}-${Math.random().toString(36).slice(2)}`)
      const source = join(gitops, 'overlays', envName)
      await cp(source, dir, {
        recursive: true,
        filter: (src) => !relative(source, src).startsWith('secrets'),
      })
      await mkdir(join(dir, 'secrets'), { recursive: true })
      const generator = parse(readFileSync(join(dir, 'secret-generator.yaml'), 'utf8'))
      for (const file of generator.files as string[]) {
        const name = file.replace(/^\.\/secrets\//, '').replace(/\.secret\.yaml$/, '')
        const secret = {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, namespace: 'platform-system' },
          type: 'Opaque',
          stringData: { username: 'demo', password: values[file] ?? 'unset' },
        }
        // Plaintext goes to sops on stdin, never to a file (lib/sops/index.ts encryptYaml).
        const ciphertext = await encryptYaml(stringify(secret), {
          file: join(dir, file),
          recipients: [to(file)],
          outputType: 'yaml',
          encryptedRegex: '^(data|stringData)$',
        })
        await writeFile(join(dir, file), ciphertext)
      }
      return dir
    }

    function build(dir: string) {
      const [command, ...args] = kustomizeCmd as string[]
      const buildOptions = (argocdCm['kustomize.buildOptions'] as string).split(' ')
      return run(command as string, [...args, ...buildOptions, dir], { env, timeoutMs: 60_000 })
    }

    it.each(ENVIRONMENTS)(
      'renders the %s overlay and decrypts its secrets',
      async (envName) => {
        const value = `decrypted-${envName}-${Date.now()}`
        const dir = await overlayCopy(
          envName,
          { './secrets/demo-credentials.secret.yaml': value },
          () => recipient,
        )
        expect(readFileSync(join(dir, 'secrets', 'demo-credentials.secret.yaml'), 'utf8')).not.toContain(
          value,
        )
        const { stdout } = await build(dir)
        const secret = parseAllDocuments(stdout)
          .map((d) => d.toJS() as Doc)
          .find((d) => d.kind === 'Secret' && d.metadata.name === 'demo-credentials')
        expect(secret?.stringData?.password).toBe(value)
        expect(secret?.sops).toBeUndefined()
      },
      60_000,
    )

    it('fails naming the file the key cannot decrypt', async () => {
      const dir = await overlayCopy('local', {}, () => recipient)
      await writeFile(
        join(dir, 'secret-generator.yaml'),
        `${readFileSync(join(dir, 'secret-generator.yaml'), 'utf8')}  - ./secrets/foreign.secret.yaml\n`,
      )
      const foreign = await encryptYaml(
        stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'foreign' },
          stringData: { x: 'y' },
        }),
        { file: join(tmp, 'foreign.plain.yaml'), recipients: [otherRecipient], outputType: 'yaml' },
      )
      await writeFile(join(dir, 'secrets', 'foreign.secret.yaml'), foreign)
      const error = await build(dir).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(ProcessError)
      expect((error as ProcessError).stderr).toContain('sops could not decrypt ./secrets/foreign.secret.yaml')
    }, 60_000)

    it('fails naming a listed file that does not exist', async () => {
      const dir = await overlayCopy('local', {}, () => recipient)
      await rm(join(dir, 'secrets', 'demo-credentials.secret.yaml'))
      const error = await build(dir).catch((e: unknown) => e)
      expect((error as ProcessError).stderr).toContain('./secrets/demo-credentials.secret.yaml: no such file')
    }, 60_000)
  },
)

describe('the KSOPS stand-in on its own', () => {
  const standin = (generator: string, cwd: string) =>
    execaSync(ksopsStandin, [generator], { cwd, env: { PATH: toolsPath() }, stripFinalNewline: false }).stdout
  let tmp: string
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ksops-standin-'))
  })
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('says it is a stand-in, not KSOPS', () => {
    const header = readFileSync(ksopsStandin, 'utf8').split('\n').slice(0, 20).join('\n')
    expect(header).toMatch(/STAND-IN/)
    expect(header).toMatch(/NOT KSOPS/)
    expect(header).toMatch(/does NOT prove/)
  })

  it.skipIf(!which('sops'))('refuses a generator without files and one using secretFrom', async () => {
    await writeFile(join(tmp, 'none.yaml'), 'apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: x\n')
    expect(() => standin(join(tmp, 'none.yaml'), tmp)).toThrow(/no files: key/)
    await writeFile(
      join(tmp, 'from.yaml'),
      'apiVersion: viaduct.ai/v1\nkind: ksops\nsecretFrom:\n- files: [a]\n',
    )
    expect(() => standin(join(tmp, 'from.yaml'), tmp)).toThrow(/secretFrom/)
  })

  it.skipIf(!which('sops'))('renders nothing for an empty list, as KSOPS does', async () => {
    await writeFile(join(tmp, 'empty.yaml'), 'apiVersion: viaduct.ai/v1\nfiles: []\nkind: ksops\n')
    expect(standin(join(tmp, 'empty.yaml'), tmp)).toBe('')
  })
})
