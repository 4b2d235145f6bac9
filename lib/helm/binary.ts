import { isDeepStrictEqual } from 'node:util'
import { gunzipSync, gzipSync } from 'node:zlib'
import { parseAllDocuments, stringify } from 'yaml'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import type { Run } from '../core/exec.ts'
import type { KObject, Kube } from '../kube/client.ts'

/**
 * The helm binary, typed: a pinned chart installed with values on stdin (never a values file on
 * disk), and the deployed release read back first, so that a run with nothing to change writes no
 * new revision and a run that changes something says what. Every release the runbook makes carries
 * the release label below: a release without it was made by someone else.
 */
export interface HelmRelease {
  name: string
  namespace: string
  chart: { repo: string; name: string; version: string }
  /** The chart as helm is given it, when not `<name> --repo <repo> --version <version>` (a mirror's package file). */
  source?: string[]
  values: Record<string, unknown>
  kubeconfig: string
  context?: string
  timeoutSeconds: number
}

export type ReleaseTarget = Pick<HelmRelease, 'name' | 'namespace' | 'kubeconfig' | 'context'>

/** Helm's own release labels (`--labels`, `helm list -l`): kept with each revision in its storage Secret. */
export const RELEASE_LABEL = { key: 'managed-by', value: 'platform-bootstrap' } as const

const HINT = 'is helm installed (`just tools`)? can this machine reach the cluster and the chart repository?'

function target(release: ReleaseTarget): string[] {
  return [
    '--namespace',
    release.namespace,
    '--kubeconfig',
    release.kubeconfig,
    ...(release.context ? ['--kube-context', release.context] : []),
  ]
}

export interface UpgradeOptions {
  /** Wait for the release's workloads (default); a render does not. */
  wait?: boolean
  /** Take over objects another tool made (`--force` on create): helm refuses them otherwise. */
  takeOwnership?: boolean
}

/** The longest a helm operation of this runbook lives: the run stops it then (its own timeout and a minute). */
export const helmLifetimeMs = (release: Pick<HelmRelease, 'timeoutSeconds'>) =>
  (release.timeoutSeconds + 60) * 1000

export function helmUpgradeArgs(release: HelmRelease, options: UpgradeOptions = {}): string[] {
  return [
    'upgrade',
    '--install',
    release.name,
    ...(release.source ?? [
      release.chart.name,
      '--repo',
      release.chart.repo,
      '--version',
      release.chart.version,
    ]),
    ...target(release),
    '--labels',
    `${RELEASE_LABEL.key}=${RELEASE_LABEL.value}`,
    '--values',
    '-',
    ...(options.wait === false ? [] : ['--wait', '--timeout', `${release.timeoutSeconds}s`]),
    ...(options.takeOwnership ? ['--take-ownership'] : []),
  ]
}

export async function helmUpgrade(
  run: Run,
  release: HelmRelease,
  options: UpgradeOptions = {},
): Promise<void> {
  await run('helm', helmUpgradeArgs(release, options), {
    input: stringify(release.values),
    hint: HINT,
    timeoutMs: helmLifetimeMs(release),
    env: HELM_ENV,
  })
}

/** A release as deployed: its latest revision, read from Helm's own storage. */
export interface DeployedRelease {
  revision: number
  status: string
  /** `<chart>-<version>`, as helm lists it. */
  chart: string
  /** The values it was installed with (what was passed, not the chart's defaults). */
  values: Record<string, unknown>
  /** Labelled by this runbook. */
  ours: boolean
  /** When its operation started (info.last_deployed), ms since the epoch. */
  startedAt?: number
  /** The storage Secret that records this revision. */
  record: string
}

/**
 * Helm's Secret storage (its default driver, which every helm call here is given: HELM_DRIVER):
 * one Secret per revision in the release's namespace, labelled `owner=helm`, `name`, `status` and
 * `version`, plus the `--labels` given; `data.release` is the release as JSON, gzipped and base64
 * encoded once more (helm v3 pkg/storage/driver/secrets.go, util.go). Read in one list instead of
 * three helm processes (`helm list`, `list -l`, `get values`): the latest revision is what those
 * report.
 */
export const HELM_STORAGE = {
  driver: 'secret',
  type: 'helm.sh/release.v1',
  selector: (name: string) => `owner=helm,name=${name}`,
} as const

/** Every helm call keeps releases where deployedRelease reads them, whatever the user's HELM_DRIVER. */
const HELM_ENV = { HELM_DRIVER: HELM_STORAGE.driver }

interface StoredRelease {
  info?: { status?: string; last_deployed?: string }
  chart?: { metadata?: { name?: string; version?: string } }
  config?: Record<string, unknown> | null
}

export async function deployedRelease(
  kube: Pick<Kube, 'list'>,
  release: Pick<ReleaseTarget, 'name' | 'namespace'>,
): Promise<DeployedRelease | undefined> {
  const revisions = (
    await kube.list('v1', 'Secret', release.namespace, HELM_STORAGE.selector(release.name))
  ).filter((secret) => secret.type === HELM_STORAGE.type)
  const revisionOf = (secret: KObject) => Number(secret.metadata.labels?.version)
  const latest = revisions.reduce<KObject | undefined>(
    (best, secret) => (!best || revisionOf(secret) > revisionOf(best) ? secret : best),
    undefined,
  )
  if (!latest) return undefined
  const stored = decodeStoredRelease(
    String((latest.data as Record<string, string> | undefined)?.release ?? ''),
    `Secret/${release.namespace}/${latest.metadata.name}`,
  )
  const labels = latest.metadata.labels ?? {}
  return {
    revision: revisionOf(latest),
    status: stored.info?.status ?? labels.status ?? 'unknown',
    chart: `${stored.chart?.metadata?.name}-${stored.chart?.metadata?.version}`,
    values: stored.config ?? {},
    ours: labels[RELEASE_LABEL.key] === RELEASE_LABEL.value,
    ...(stored.info?.last_deployed ? { startedAt: Date.parse(stored.info.last_deployed) } : {}),
    record: latest.metadata.name,
  }
}

/** `data.release` of a storage Secret (the API's base64 of helm's base64 of gzipped JSON) → the release. */
export function decodeStoredRelease(data: string, where: string): StoredRelease {
  try {
    const bytes = Buffer.from(Buffer.from(data, 'base64').toString('latin1'), 'base64')
    const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 0x08
    return JSON.parse((gzipped ? gunzipSync(bytes) : bytes).toString('utf8')) as StoredRelease
  } catch (error) {
    throw new BootstrapError(`${where}: not a Helm release helm v3 can read (${errorMessage(error)})`, {
      hint: 'helm stores each revision of a release there; `helm history` shows whether helm itself can read it',
    })
  }
}

/**
 * Marks a revision failed in helm's storage, as helm itself does with an operation it sees
 * interrupted (a SIGINT or SIGTERM: its status failed, a description saying why): the release's
 * history keeps it, helm's lock is released, and the next upgrade goes from the last deployed
 * revision (helm v3 pkg/action/upgrade.go). Written back as helm writes it: the release JSON,
 * gzipped and base64 encoded, and the `status` label (pkg/storage/driver/secrets.go, util.go).
 */
export async function markRevisionFailed(
  kube: Pick<Kube, 'get' | 'mergePatch'>,
  namespace: string,
  record: string,
  description: string,
): Promise<void> {
  const ref = { apiVersion: 'v1', kind: 'Secret', name: record, namespace }
  const secret = await kube.get(ref)
  if (!secret)
    throw new BootstrapError(`Secret/${namespace}/${record}: helm's record of the revision is gone`)
  const stored = decodeStoredRelease(
    String((secret.data as Record<string, string> | undefined)?.release ?? ''),
    `Secret/${namespace}/${record}`,
  ) as StoredRelease & { info?: Record<string, unknown> }
  const release = { ...stored, info: { ...stored.info, status: 'failed', description } }
  const encoded = gzipSync(Buffer.from(JSON.stringify(release))).toString('base64')
  await kube.mergePatch(ref, {
    metadata: { labels: { status: 'failed', modifiedAt: String(Math.floor(Date.now() / 1000)) } },
    data: { release: Buffer.from(encoded).toString('base64') },
  })
}

export type ReleasePlan =
  | { action: 'install' }
  | { action: 'unchanged'; revision: number }
  | { action: 'upgrade'; revision: number; changes: string[] }
  | { action: 'foreign'; revision: number; chart: string }

/** What to do about a release, from what is deployed and what would be installed. Pure: the tests feed it recorded outputs. */
export function planRelease(deployed: DeployedRelease | undefined, desired: HelmRelease): ReleasePlan {
  if (!deployed) return { action: 'install' }
  if (!deployed.ours) return { action: 'foreign', revision: deployed.revision, chart: deployed.chart }
  const changes: string[] = []
  const chart = `${desired.chart.name}-${desired.chart.version}`
  if (deployed.chart !== chart) changes.push(`chart ${deployed.chart} → ${chart}`)
  if (deployed.status !== 'deployed') changes.push(`release status ${deployed.status}`)
  const keys = changedPaths(deployed.values, plain(desired.values))
  if (keys.length) changes.push(`values ${keys.join(', ')}`)
  return changes.length
    ? { action: 'upgrade', revision: deployed.revision, changes }
    : { action: 'unchanged', revision: deployed.revision }
}

/** The value paths that differ (names only, never values): maps walked key by key, anything else compared whole. */
export function changedPaths(before: unknown, after: unknown, path = ''): string[] {
  const isMap = (v: unknown): v is Record<string, unknown> =>
    !!v && typeof v === 'object' && !Array.isArray(v)
  if (isMap(before) && isMap(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((key) => {
      // A key with a dot in it (`kustomize.buildOptions`) quoted, so the path reads one way only.
      const shown = key.includes('.') ? `"${key}"` : key
      return changedPaths(before[key], after[key], path ? `${path}.${shown}` : shown)
    })
  }
  return isDeepStrictEqual(before, after) ? [] : [path || '(all values)']
}

/** The objects an install or upgrade would apply, rendered by helm against the cluster (`--dry-run=server`); hooks apart. */
export async function renderRelease(run: Run, release: HelmRelease): Promise<KObject[]> {
  const args = helmUpgradeArgs(release, { wait: false })
  const { stdout } = await run('helm', [...args, '--dry-run=server', '--output', 'json'], {
    input: stringify(release.values),
    hint: HINT,
    env: HELM_ENV,
    timeoutMs: helmLifetimeMs(release),
  })
  let manifest: string
  try {
    manifest = (JSON.parse(stdout) as { manifest?: string }).manifest ?? ''
  } catch {
    throw new BootstrapError(`helm upgrade --dry-run for release ${release.name} printed no release`)
  }
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJS() as KObject | null)
    .filter((object): object is KObject => !!object?.kind && !!object.metadata?.name)
    .map((object) =>
      object.metadata.namespace || CLUSTER_SCOPED.has(object.kind ?? '')
        ? object
        : { ...object, metadata: { ...object.metadata, namespace: release.namespace } },
    )
}

/** Kinds a chart renders without a namespace because they have none (the rest land in the release's). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'PriorityClass',
  'StorageClass',
  'IngressClass',
  'PersistentVolume',
  'APIService',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
])

export async function helmUninstall(run: Run, release: ReleaseTarget): Promise<void> {
  await run('helm', ['uninstall', release.name, ...target(release), '--ignore-not-found'], {
    hint: HINT,
    env: HELM_ENV,
  })
}

function plain(values: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(values)) as Record<string, unknown>
}
