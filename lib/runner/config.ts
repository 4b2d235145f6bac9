import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { parse } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { versions } from '../core/versions.ts'
import { Fields } from './config-fields.ts'

/**
 * An environment's config: `environments/<env>/config.yaml`, validated once when loaded.
 * Every error names the file, the field and what was expected, so nothing downstream
 * checks its input again.
 */
export type Provider = 'kind' | 'existing' | 'local'

export interface RepoConfig {
  url: string
  username: string
  /** Bootstrap field holding this repository's token. */
  passwordField: string
}

export interface BootstrapSecretConfig {
  name: string
  namespace: string
  /** Secret key → bootstrap field it is filled from. */
  data: Record<string, string>
}

export interface OpenBaoAppConfig {
  name: string
  namespace: string
  serviceAccount: string
  /** Initial secret fields: from a bootstrap field, or generated once (length in characters). */
  secrets: Record<string, { fromField: string } | { generate: number }>
}

export interface EnvConfig {
  name: string
  file: string
  /** The checkout the environment belongs to: its relative paths, and the gitops/ tree served, are from here. */
  root: string
  /** dev-like environments may make missing keys and secrets on first create; staging/prod never do. */
  generateMissingSecrets: boolean
  cluster: {
    provider: Provider
    name: string
    /** existing: the kube context the environment must be run against. */
    context?: string
    /** kind: the kubeconfig context is kind-<name>. local: number of kwok fake nodes. */
    nodes: number
    /** kind: the node image (default: the digest pinned in lib/core/versions.ts). */
    nodeImage: string
  }
  /** Air-gapped installs: where charts and images come from instead of their upstream registries. */
  charts: {
    /** A Helm repository URL or a local folder of chart packages (`<name>-<version>.tgz`). */
    mirror?: ChartMirror
  }
  images: {
    /** kind: a folder of image archives (`docker save` tarballs) loaded into the nodes before step 06. */
    archives?: string
  }
  gitops: {
    platformRepo: RepoConfig
    tenantRepos: Record<string, RepoConfig>
    revision: string
    /** Path of the root App of Apps inside the platform repo. */
    rootPath: string
    /** Globs (relative to rootPath) of the Applications this environment runs; all when empty. */
    include: string[]
    /** Serve this checkout as the platform repo (dev, local) instead of the remote one. */
    serveCheckout: boolean
  }
  secrets: {
    sopsFile: string
    vault?: { address: string; kvPath: string; tokenFile: string; timeoutMs: number }
    /** Bootstrap fields the steps read. */
    fields: string[]
  }
  ageKey: {
    field: string
    /** Backup of the cluster age key, encrypted to the personal key. */
    backupFile: string
  }
  namespaces: string[]
  bootstrapSecrets: BootstrapSecretConfig[]
  argocd: { namespace: string; timeoutSeconds: number }
  converge: { timeoutSeconds: number }
  openbao: {
    namespace: string
    /** Reach OpenBao here; without it, through a port-forward to the openbao Service. */
    address?: string
    /** Where the init material (root token, recovery keys) is kept, SOPS-encrypted. */
    initFile: string
    /** OpenBao's raft snapshot, age-encrypted to the bootstrap file's keys: taken by destroy and backup, restored by setup and restore. */
    snapshotFile: string
    apps: OpenBaoAppConfig[]
  }
}

/** Where charts come from instead of their upstream repositories. */
export type ChartMirror = { kind: 'url'; url: string } | { kind: 'folder'; path: string }

/**
 * Per-run overrides of the air-gap settings, from the environment: they win over the config file,
 * so one checkout can run against a mirror without editing a committed file.
 */
export const OVERRIDE_VARIABLES = {
  chartsMirror: 'PLATFORM_CHARTS_MIRROR',
  imageArchives: 'PLATFORM_IMAGE_ARCHIVES',
  nodeImage: 'PLATFORM_KIND_NODE_IMAGE',
} as const

export const environmentsDir = join(repoRoot, 'environments')

/** A path from an environment's config: `~/` is the home folder, a relative path is from its checkout. */
export function envPath(env: Pick<EnvConfig, 'root'>, file: string): string {
  if (file.startsWith('~/')) return join(homedir(), file.slice(2))
  return isAbsolute(file) ? file : join(env.root, file)
}

export function listEnvironments(dir = environmentsDir): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'config.yaml')))
    .map((entry) => entry.name)
    .sort()
}

export function loadConfig(
  envName: string,
  dir = environmentsDir,
  variables: NodeJS.ProcessEnv = process.env,
): EnvConfig {
  const root = dirname(resolve(dir))
  const file = join(dir, envName, 'config.yaml')
  if (!existsSync(file)) {
    const known = listEnvironments(dir)
    throw new BootstrapError(`unknown environment "${envName}": ${display(file)} does not exist`, {
      hint: known.length ? `known environments: ${known.join(', ')}` : `create ${display(file)}`,
      exitCode: 2,
    })
  }
  let raw: unknown
  try {
    raw = parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new BootstrapError(
      `${display(file)} is not valid YAML: ${(error as Error).message.split('\n')[0]}`,
      {
        exitCode: 2,
      },
    )
  }
  return parseConfig(raw, envName, file, root, variables)
}

/** Validates a parsed config document; `file` only names the source in errors. */
export function parseConfig(
  raw: unknown,
  envName: string,
  file: string,
  root = repoRoot,
  variables: NodeJS.ProcessEnv = {},
): EnvConfig {
  const at = new Fields(display(file))
  const doc = at.object(raw, '', [
    ...['name', 'generateMissingSecrets', 'cluster', 'gitops', 'secrets', 'ageKey', 'namespaces'],
    ...['bootstrapSecrets', 'argocd', 'converge', 'openbao', 'charts', 'images'],
  ])
  const name = at.string(doc, 'name', { pattern: DNS_LABEL })
  if (name !== envName) at.fail('name', `"${envName}" (the folder it is in)`, name)

  const cluster = at.object(doc.cluster, 'cluster', ['provider', 'name', 'context', 'nodes', 'nodeImage'])
  const provider = at.oneOf(cluster, 'cluster.provider', ['kind', 'existing', 'local'] as const)
  const context = at.optionalString(cluster, 'cluster.context')
  if (provider === 'existing' && !context)
    at.fail('cluster.context', 'the kube context to use (required for provider existing)', undefined)

  const gitops = at.object(doc.gitops, 'gitops', [
    ...['platformRepo', 'tenantRepos', 'revision', 'rootPath', 'include', 'serveCheckout'],
  ])
  const tenantRepos = at.object(gitops.tenantRepos ?? {}, 'gitops.tenantRepos')
  const secrets = at.object(doc.secrets, 'secrets', ['sopsFile', 'vault', 'fields'])
  const vaultRaw =
    secrets.vault === undefined
      ? undefined
      : at.object(secrets.vault, 'secrets.vault', ['address', 'kvPath', 'tokenFile', 'timeoutMs'])
  const ageKey = at.object(doc.ageKey, 'ageKey', ['field', 'backupFile'])
  const argocd = at.object(doc.argocd ?? {}, 'argocd', ['namespace', 'timeoutSeconds'])
  const converge = at.object(doc.converge ?? {}, 'converge', ['timeoutSeconds'])
  const charts = at.object(doc.charts ?? {}, 'charts', ['mirror'])
  const images = at.object(doc.images ?? {}, 'images', ['archives'])
  const override = (name: string) => variables[name]?.trim() || undefined
  const openbao = at.object(doc.openbao ?? {}, 'openbao', [
    'namespace',
    'address',
    'initFile',
    'snapshotFile',
    'apps',
  ])

  const config: EnvConfig = {
    name,
    file,
    root,
    generateMissingSecrets: at.boolean(doc, 'generateMissingSecrets', false),
    cluster: {
      provider,
      name: at.string(cluster, 'cluster.name', { pattern: DNS_LABEL }),
      context,
      nodes: at.integer(cluster, 'cluster.nodes', { min: 1, max: 50, fallback: 1 }),
      nodeImage:
        override(OVERRIDE_VARIABLES.nodeImage) ??
        at.optionalString(cluster, 'cluster.nodeImage') ??
        versions.kindNodeImage,
    },
    charts: {
      mirror: chartMirror(
        root,
        override(OVERRIDE_VARIABLES.chartsMirror) ?? at.optionalString(charts, 'charts.mirror'),
      ),
    },
    images: {
      archives: pathFrom(
        root,
        override(OVERRIDE_VARIABLES.imageArchives) ?? at.optionalString(images, 'images.archives'),
      ),
    },
    gitops: {
      platformRepo: repo(at, gitops.platformRepo, 'gitops.platformRepo'),
      tenantRepos: Object.fromEntries(
        Object.entries(tenantRepos).map(([tenant, value]) => {
          if (!DNS_LABEL.test(tenant))
            at.fail(`gitops.tenantRepos.${tenant}`, 'a tenant name (lowercase DNS label)', tenant)
          return [tenant, repo(at, value, `gitops.tenantRepos.${tenant}`)]
        }),
      ),
      revision: at.optionalString(gitops, 'gitops.revision') ?? 'HEAD',
      rootPath: at.string(gitops, 'gitops.rootPath'),
      include: gitops.include === undefined ? [] : at.stringList(gitops, 'gitops.include'),
      serveCheckout: at.boolean(gitops, 'gitops.serveCheckout', false),
    },
    secrets: {
      sopsFile: at.string(secrets, 'secrets.sopsFile'),
      vault: vaultRaw && {
        address: at.string(vaultRaw, 'secrets.vault.address', {
          pattern: /^https?:\/\/\S+$/,
          expected: 'an http(s) URL',
        }),
        kvPath: at.string(vaultRaw, 'secrets.vault.kvPath', {
          pattern: /^[\w-]+\/data\/\S+$/,
          expected: 'a KV v2 path like secret/data/<cluster>/bootstrap',
        }),
        tokenFile: at.string(vaultRaw, 'secrets.vault.tokenFile'),
        timeoutMs: at.integer(vaultRaw, 'secrets.vault.timeoutMs', { min: 100, max: 60000, fallback: 3000 }),
      },
      fields: at.stringList(secrets, 'secrets.fields'),
    },
    ageKey: {
      field: at.optionalString(ageKey, 'ageKey.field') ?? 'age_cluster_private_key',
      backupFile: at.string(ageKey, 'ageKey.backupFile'),
    },
    namespaces: at.stringList(doc, 'namespaces', { pattern: DNS_LABEL }),
    bootstrapSecrets: at.list(doc.bootstrapSecrets ?? [], 'bootstrapSecrets').map((item, i) => {
      const path = `bootstrapSecrets[${i}]`
      const entry = at.object(item, path, ['name', 'namespace', 'data'])
      return {
        name: at.string(entry, `${path}.name`, { pattern: DNS_SUBDOMAIN }),
        namespace: at.string(entry, `${path}.namespace`, { pattern: DNS_LABEL }),
        data: at.stringMap(entry, `${path}.data`),
      }
    }),
    argocd: {
      namespace: at.optionalString(argocd, 'argocd.namespace') ?? 'argocd',
      timeoutSeconds: at.integer(argocd, 'argocd.timeoutSeconds', { min: 10, max: 3600, fallback: 300 }),
    },
    converge: {
      timeoutSeconds: at.integer(converge, 'converge.timeoutSeconds', { min: 10, max: 7200, fallback: 300 }),
    },
    openbao: {
      namespace: at.optionalString(openbao, 'openbao.namespace') ?? 'openbao',
      address: at.optionalString(openbao, 'openbao.address'),
      initFile: at.optionalString(openbao, 'openbao.initFile') ?? `environments/${name}/openbao.sops.yaml`,
      snapshotFile:
        at.optionalString(openbao, 'openbao.snapshotFile') ?? `environments/${name}/openbao-snapshot.age`,
      apps: at
        .list(openbao.apps ?? [], 'openbao.apps')
        .map((item, i) => openBaoApp(at, item, `openbao.apps[${i}]`)),
    },
  }
  crossCheck(at, config)
  return config
}

/** An http(s) URL is a Helm repository; anything else a folder of chart packages (from the checkout when relative). */
function chartMirror(root: string, value: string | undefined): ChartMirror | undefined {
  if (!value) return undefined
  if (/^https?:\/\//.test(value)) return { kind: 'url', url: value.replace(/\/+$/, '') }
  return { kind: 'folder', path: pathFrom(root, value) as string }
}

function pathFrom(root: string, value: string | undefined): string | undefined {
  if (!value) return undefined
  return envPath({ root }, value)
}

function repo(at: Fields, raw: unknown, path: string): RepoConfig {
  const doc = at.object(raw, path, ['url', 'username', 'passwordField'])
  return {
    url: at.string(doc, `${path}.url`, {
      pattern: /^(https?|ssh|git|file):\/\/\S+$|^git@\S+$/,
      expected: 'a git URL',
    }),
    username: at.string(doc, `${path}.username`),
    passwordField: at.string(doc, `${path}.passwordField`),
  }
}

function openBaoApp(at: Fields, raw: unknown, path: string): OpenBaoAppConfig {
  const doc = at.object(raw, path, ['name', 'namespace', 'serviceAccount', 'secrets'])
  const secrets = at.object(doc.secrets ?? {}, `${path}.secrets`)
  return {
    name: at.string(doc, `${path}.name`, { pattern: DNS_LABEL }),
    namespace: at.string(doc, `${path}.namespace`, { pattern: DNS_LABEL }),
    serviceAccount: at.string(doc, `${path}.serviceAccount`, { pattern: DNS_SUBDOMAIN }),
    secrets: Object.fromEntries(
      Object.entries(secrets).map(([field, value]) => {
        const spec = at.object(value, `${path}.secrets.${field}`, ['fromField', 'generate'])
        if (typeof spec.fromField === 'string') return [field, { fromField: spec.fromField }]
        if (
          typeof spec.generate === 'number' &&
          Number.isInteger(spec.generate) &&
          spec.generate >= 16 &&
          spec.generate <= 256
        )
          return [field, { generate: spec.generate }]
        return at.fail(
          `${path}.secrets.${field}`,
          '{ fromField: <bootstrap field> } or { generate: <length 16-256> }',
          value,
        )
      }),
    ),
  }
}

/** Rules that span fields: every bootstrap field a step reads must be declared in secrets.fields. */
function crossCheck(at: Fields, config: EnvConfig): void {
  const declared = new Set(config.secrets.fields)
  const need = (field: string, path: string) => {
    if (!declared.has(field))
      at.fail(path, `a field listed in secrets.fields (${[...declared].join(', ')})`, field)
  }
  need(config.ageKey.field, 'ageKey.field')
  need(config.gitops.platformRepo.passwordField, 'gitops.platformRepo.passwordField')
  for (const [tenant, repo] of Object.entries(config.gitops.tenantRepos))
    need(repo.passwordField, `gitops.tenantRepos.${tenant}.passwordField`)
  config.bootstrapSecrets.forEach((secret, i) => {
    for (const [key, field] of Object.entries(secret.data)) need(field, `bootstrapSecrets[${i}].data.${key}`)
    if (!config.namespaces.includes(secret.namespace))
      at.fail(
        `bootstrapSecrets[${i}].namespace`,
        `one of namespaces (${config.namespaces.join(', ')})`,
        secret.namespace,
      )
  })
  config.openbao.apps.forEach((app, i) => {
    for (const [key, spec] of Object.entries(app.secrets))
      if ('fromField' in spec) need(spec.fromField, `openbao.apps[${i}].secrets.${key}.fromField`)
  })
  if (!config.namespaces.includes(config.argocd.namespace))
    at.fail(
      'namespaces',
      `a list that includes the Argo CD namespace "${config.argocd.namespace}"`,
      config.namespaces,
    )
}

/** A Kubernetes object or namespace name (RFC 1123 label). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

function display(file: string): string {
  return isAbsolute(file) ? relative(process.cwd(), file) || file : file
}
