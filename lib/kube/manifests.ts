// One module per kind, not the group's index: loading all of v1 costs every run ~20 ms.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Namespace } from 'kubernetes-models/v1/Namespace'
import { Secret } from 'kubernetes-models/v1/Secret'
import { parseAllDocuments } from 'yaml'
import { CHART_ARGOCD_CM } from '../argocd/chart-cm.ts'
import type { GitopsSource } from '../argocd/gitops-source.ts'
import { APPLICATION_SYNC_OPTIONS, argocdCm } from '../argocd/settings.ts'
import type { BootstrapSecretConfig, EnvConfig, RepoConfig } from '../runner/config.ts'
import type { KObject } from './client.ts'

/**
 * The objects the runbook itself applies, built as typed models and validated against the
 * real schemas before anything reaches the API. Secrets carry `data` (base64), not
 * `stringData`: the server keeps only `data`, so a re-apply of the same value is a no-op.
 */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'platform-bootstrap' }
/** MANAGED_BY as a label selector: what this runbook made, in one list request. */
export const MANAGED_BY_SELECTOR = Object.entries(MANAGED_BY)
  .map(([key, value]) => `${key}=${value}`)
  .join(',')
export const PRUNE_FALSE = { 'argocd.argoproj.io/sync-options': 'Prune=false' }

/** Whether the object carries this runbook's label: create made it, destroy may remove it. */
export function isManagedByUs(object: { metadata?: { labels?: Record<string, string> } }): boolean {
  const labels = object.metadata?.labels ?? {}
  return Object.entries(MANAGED_BY).every(([key, value]) => labels[key] === value)
}

/**
 * A namespace of the environment. One that was there before create (`found` without our label)
 * stays someone else's: it is not labelled, so destroy never deletes it.
 */
export function namespace(name: string, found?: KObject): KObject {
  const ours = !found || isManagedByUs(found)
  return validated(new Namespace({ metadata: { name, ...(ours ? { labels: MANAGED_BY } : {}) } }))
}

export function opaqueSecret(
  name: string,
  ns: string,
  data: Record<string, string>,
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): KObject {
  return validated(
    new Secret({
      metadata: {
        name,
        namespace: ns,
        labels: { ...MANAGED_BY, ...meta.labels },
        annotations: meta.annotations,
      },
      type: 'Opaque',
      data: Object.fromEntries(
        Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
      ),
    }),
  )
}

/** Secret `ksops-age-key` / `age.agekey`: the cluster age key the repo-server decrypts with. */
export function ageKeySecret(
  argocdNamespace: string,
  identity: string,
  names = { secret: 'ksops-age-key', key: 'age.agekey' },
): KObject {
  return opaqueSecret(names.secret, argocdNamespace, { [names.key]: ensureNewline(identity) })
}

/** One repository Secret, labelled so Argo CD picks it up. */
/** Argo CD's label for a repository Secret (and as a selector). */
const REPOSITORY_SECRET = { 'argocd.argoproj.io/secret-type': 'repository' }
export const REPOSITORY_SECRET_SELECTOR = 'argocd.argoproj.io/secret-type=repository'

export function repositorySecret(
  name: string,
  argocdNamespace: string,
  repo: RepoConfig,
  password: string,
  url = repo.url,
): KObject {
  return opaqueSecret(
    name,
    argocdNamespace,
    { type: 'git', url, username: repo.username, password },
    { labels: REPOSITORY_SECRET },
  )
}

/** The names of the repository Secrets an environment has: the platform repository's and one per tenant. */
export const REPOSITORY_SECRET_NAMES = {
  platform: 'repo-platform-gitops',
  tenant: (tenant: string) => `repo-tenant-${tenant}`,
  of: (env: EnvConfig) => [
    REPOSITORY_SECRET_NAMES.platform,
    ...Object.keys(env.gitops.tenantRepos).map(REPOSITORY_SECRET_NAMES.tenant),
  ],
} as const

/** The platform repository's Secret and one per tenant repository, with the URLs Argo CD pulls from. */
export function repositorySecrets(
  env: EnvConfig,
  values: Record<string, string>,
  source: GitopsSource,
): KObject[] {
  const { platformRepo, tenantRepos } = env.gitops
  const ns = env.argocd.namespace
  return [
    repositorySecret(
      REPOSITORY_SECRET_NAMES.platform,
      ns,
      platformRepo,
      values[platformRepo.passwordField] ?? '',
      source.platformURL,
    ),
    ...Object.entries(tenantRepos).map(([tenant, repo]) =>
      repositorySecret(
        REPOSITORY_SECRET_NAMES.tenant(tenant),
        ns,
        repo,
        values[repo.passwordField] ?? '',
        source.tenantURLs[tenant],
      ),
    ),
  ]
}

/** A bootstrap Secret from the environment's list, kept by Argo CD even if it ever appears in git and goes away. */
export function bootstrapSecret(spec: BootstrapSecretConfig, values: Record<string, string>): KObject {
  const data = Object.fromEntries(Object.entries(spec.data).map(([key, field]) => [key, values[field] ?? '']))
  return opaqueSecret(spec.name, spec.namespace, data, { annotations: PRUNE_FALSE })
}

const ARGOCD_PART = { 'app.kubernetes.io/part-of': 'argocd' }

/**
 * argocd-cm where no Helm chart writes it (the local provider): the chart's own entries with the
 * runbook's over them, as the chart merges its values. Argo CD's settings watch only objects
 * labelled part-of=argocd: without the label the controller exits "argocd-cm not found".
 */
export function argocdConfigMap(ns: string): KObject {
  return validated(
    new ConfigMap({
      metadata: { name: 'argocd-cm', namespace: ns, labels: { ...MANAGED_BY, ...ARGOCD_PART } },
      data: { ...CHART_ARGOCD_CM, ...argocdCm },
    }),
  )
}

/** argocd-cmd-params-cm where no Helm chart writes it (the local provider, which adds its processes' addresses). */
export function argocdCmdParamsConfigMap(ns: string, params: Record<string, string>): KObject {
  return validated(
    new ConfigMap({
      metadata: {
        name: 'argocd-cmd-params-cm',
        namespace: ns,
        labels: { ...MANAGED_BY, ...ARGOCD_PART },
      },
      data: { ...params },
    }),
  )
}

/** argocd-secret with the server key (base64) Argo CD signs with; the caller keeps an existing key. */
export function argocdServerSecret(ns: string, serverKeyBase64: string): KObject {
  return validated(
    new Secret({
      metadata: { name: 'argocd-secret', namespace: ns, labels: { ...MANAGED_BY, ...ARGOCD_PART } },
      type: 'Opaque',
      data: { 'server.secretkey': serverKeyBase64 },
    }),
  )
}

/** Argo CD's directory.include, per path relative to the source path: a glob whose `*` crosses `/` (gobwas glob, no separators). */
export function includeMatches(glob: string, path: string): boolean {
  const pattern = glob
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('')
  return new RegExp(`^${pattern}$`).test(path)
}

/** The files of the apps tree an environment's `gitops.include` selects (all when it is empty). */
export function selectedAppFiles(include: string[], files: string[]): string[] {
  return include.length ? files.filter((rel) => include.some((glob) => includeMatches(glob, rel))) : files
}

/** The Applications the environment's root App of Apps creates: its gitops.include over the apps tree. */
export function selectedApplications(env: EnvConfig): KObject[] {
  const dir = join(env.root, env.gitops.rootPath)
  if (!existsSync(dir)) return []
  const files = (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((rel) => /\.ya?ml$/.test(rel))
    .sort()
  return selectedAppFiles(env.gitops.include, files).flatMap((rel) =>
    parseAllDocuments(readFileSync(join(dir, rel), 'utf8'))
      .map((doc) => doc.toJSON() as KObject | null)
      .filter((doc): doc is KObject => doc?.kind === 'Application'),
  )
}

/** Whether one of those Applications deploys the openbao chart. */
export function deploysOpenBao(env: EnvConfig): boolean {
  return selectedApplications(env).some(
    (app) => (app.spec as { source?: { chart?: string } } | undefined)?.source?.chart === 'openbao',
  )
}

/** The root App of Apps: directory recursion over the apps tree, automated prune and selfHeal. */
export function rootApplication(env: EnvConfig, repoURL: string): KObject {
  const include = env.gitops.include.length > 1 ? `{${env.gitops.include.join(',')}}` : env.gitops.include[0]
  return validated(
    new Application({
      metadata: { name: 'root', namespace: env.argocd.namespace, labels: MANAGED_BY },
      spec: {
        project: 'default',
        source: {
          repoURL,
          targetRevision: env.gitops.revision,
          path: env.gitops.rootPath,
          directory: { recurse: true, ...(include ? { include } : {}) },
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: env.argocd.namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: [...APPLICATION_SYNC_OPTIONS],
          retry: { limit: 10, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
        },
      },
    }),
  )
}

type AppSource = Record<string, unknown>

export function sourceOf(app: KObject): AppSource {
  return ((app.spec as { source?: AppSource } | undefined)?.source ?? {}) as AppSource
}

/** The fields of an Application source that differ, by name (repoURL, path, targetRevision, directory.include, …). */
export function changedSourceFields(current: AppSource, wanted: AppSource): string[] {
  const keys = [...new Set([...Object.keys(current), ...Object.keys(wanted)])].sort()
  return keys.flatMap((key) => {
    const [a, b] = [current[key], wanted[key]]
    if (key === 'directory' && a && b && typeof a === 'object' && typeof b === 'object')
      return changedSourceFields(a as AppSource, b as AppSource).map((sub) => `directory.${sub}`)
    return JSON.stringify(a ?? null) === JSON.stringify(b ?? null) ? [] : [key]
  })
}

function validated(model: { validate(): void; toJSON(): unknown }): KObject {
  model.validate()
  return JSON.parse(JSON.stringify(model.toJSON())) as KObject
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`
}
