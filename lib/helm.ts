import { isDeepStrictEqual } from 'node:util'
import { parseAllDocuments, stringify } from 'yaml'
import { BootstrapError } from './errors.ts'
import type { Run } from './exec.ts'
import type { KObject } from './kube.ts'

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
    timeoutMs: (release.timeoutSeconds + 60) * 1000,
  })
}

/** A release as deployed: from `helm list` (all states) and `helm get values`. */
export interface DeployedRelease {
  revision: number
  status: string
  /** `<chart>-<version>`, as helm lists it. */
  chart: string
  /** The values it was installed with (what was passed, not the chart's defaults). */
  values: Record<string, unknown>
  /** Labelled by this runbook. */
  ours: boolean
}

export async function deployedRelease(
  run: Run,
  release: ReleaseTarget,
): Promise<DeployedRelease | undefined> {
  const list = async (selector: string[]) =>
    JSON.parse(
      (
        await run(
          'helm',
          [
            'list',
            ...target(release),
            '--all',
            '--output',
            'json',
            '--filter',
            `^${release.name}$`,
            ...selector,
          ],
          { hint: HINT },
        )
      ).stdout || '[]',
    ) as { name: string; revision: string; status: string; chart: string }[]
  const [found] = (await list([])).filter((entry) => entry.name === release.name)
  if (!found) return undefined
  const ours = (await list(['--selector', `${RELEASE_LABEL.key}=${RELEASE_LABEL.value}`])).some(
    (e) => e.name === release.name,
  )
  const { stdout } = await run(
    'helm',
    ['get', 'values', release.name, ...target(release), '--output', 'json'],
    { hint: HINT },
  )
  const values = (JSON.parse(stdout || 'null') ?? {}) as Record<string, unknown>
  return { revision: Number(found.revision), status: found.status, chart: found.chart, values, ours }
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
    timeoutMs: (release.timeoutSeconds + 60) * 1000,
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
  await run('helm', ['uninstall', release.name, ...target(release), '--ignore-not-found'], { hint: HINT })
}

function plain(values: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(values)) as Record<string, unknown>
}
