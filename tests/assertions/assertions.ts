import { createHash } from 'node:crypto'
import { type AppStatus, convergence } from '../../lib/argocd/status.ts'
import type { KObject, Kube } from '../../lib/kube/client.ts'
import { isNodeReady } from '../../lib/kube/client.ts'
import { MANAGED_BY_SELECTOR, PRUNE_FALSE } from '../../lib/kube/manifests.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'

/**
 * What a converged platform looks like, judged from objects read from a cluster. The same
 * functions run on the local provider in every CI run and on kind every night; each returns
 * a verdict with a message that says what was expected and what was found.
 */
export interface Verdict {
  name: string
  ok: boolean
  message: string
}

const verdict = (name: string, ok: boolean, message: string): Verdict => ({ name, ok, message })
const decode = (value: string | undefined) =>
  value === undefined ? undefined : Buffer.from(value, 'base64').toString()
const dataOf = (object: KObject | undefined) => (object?.data ?? {}) as Record<string, string>
const secretRef = (name: string, namespace: string) => ({ apiVersion: 'v1', kind: 'Secret', name, namespace })

export async function namespacesExist(kube: Kube, env: EnvConfig): Promise<Verdict> {
  const names = new Set((await kube.list('v1', 'Namespace')).map((ns) => ns.metadata.name))
  const missing = env.namespaces.filter((name) => !names.has(name))
  return verdict(
    'namespaces',
    missing.length === 0,
    missing.length
      ? `missing namespaces: ${missing.join(', ')}`
      : `${env.namespaces.length} namespaces exist`,
  )
}

/** ksops-age-key holds exactly the cluster age key (compared, never printed). */
export async function ageKeySecretHolds(kube: Kube, env: EnvConfig, identity: string): Promise<Verdict> {
  const secret = await kube.get(secretRef('ksops-age-key', env.argocd.namespace))
  if (!secret)
    return verdict('ksops-age-key', false, `Secret ${env.argocd.namespace}/ksops-age-key does not exist`)
  const held = decode(dataOf(secret)['age.agekey'])?.trim()
  return verdict(
    'ksops-age-key',
    held === identity.trim(),
    held === identity.trim()
      ? 'holds the cluster age key'
      : 'holds a different key than the bootstrap secrets (or no age.agekey)',
  )
}

export async function repositorySecretsExist(
  kube: Kube,
  env: EnvConfig,
  expectedURLs: string[],
): Promise<Verdict> {
  const secrets = await kube.list(
    'v1',
    'Secret',
    env.argocd.namespace,
    'argocd.argoproj.io/secret-type=repository',
  )
  const urls = secrets.map((secret) => decode(dataOf(secret).url))
  const missing = expectedURLs.filter((url) => !urls.includes(url))
  const incomplete = secrets.filter((secret) =>
    ['type', 'url', 'username', 'password'].some((key) => !dataOf(secret)[key]),
  )
  const ok = missing.length === 0 && incomplete.length === 0
  return verdict(
    'repository Secrets',
    ok,
    ok
      ? `${secrets.length} labelled repository Secrets with type/url/username/password`
      : `missing for ${missing.join(', ') || '-'}; incomplete: ${incomplete.map((s) => s.metadata.name).join(', ') || '-'}`,
  )
}

/** Every bootstrap Secret exists with Prune=false and the value of its bootstrap field. */
export async function bootstrapSecretsExist(
  kube: Kube,
  env: EnvConfig,
  values: Record<string, string>,
): Promise<Verdict> {
  const problems: string[] = []
  for (const spec of env.bootstrapSecrets) {
    const secret = await kube.get(secretRef(spec.name, spec.namespace))
    if (!secret) {
      problems.push(`${spec.namespace}/${spec.name} missing`)
      continue
    }
    const annotations = (secret.metadata as { annotations?: Record<string, string> }).annotations ?? {}
    for (const [key, value] of Object.entries(PRUNE_FALSE))
      if (annotations[key] !== value) problems.push(`${spec.name} lacks ${key}: ${value}`)
    for (const [key, field] of Object.entries(spec.data))
      if (decode(dataOf(secret)[key]) !== values[field])
        problems.push(`${spec.name}.${key} differs from bootstrap field ${field}`)
  }
  return verdict(
    'bootstrap Secrets',
    problems.length === 0,
    problems.join('; ') || `${env.bootstrapSecrets.length} bootstrap Secrets with Prune=false`,
  )
}

export async function rootApplicationExists(kube: Kube, env: EnvConfig): Promise<Verdict> {
  const root = await kube.get({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    name: 'root',
    namespace: env.argocd.namespace,
  })
  const spec = root?.spec as
    | {
        source?: { path?: string; directory?: { recurse?: boolean } }
        syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean } }
      }
    | undefined
  const ok =
    !!spec &&
    spec.source?.path === env.gitops.rootPath &&
    spec.source?.directory?.recurse === true &&
    spec.syncPolicy?.automated?.prune === true &&
    spec.syncPolicy?.automated?.selfHeal === true
  return verdict(
    'root Application',
    ok,
    ok
      ? `root over ${env.gitops.rootPath}, recurse, prune + selfHeal`
      : `root Application missing or not as promised: ${JSON.stringify(spec ?? null)}`,
  )
}

export async function applicationsConverged(
  kube: Kube,
  env: EnvConfig,
  expected: string[] = [],
): Promise<Verdict> {
  const apps = await kube.list('argoproj.io/v1alpha1', 'Application', env.argocd.namespace)
  const state = convergence(apps)
  const names = apps.map((app) => app.metadata.name)
  const absent = expected.filter((name) => !names.includes(name))
  const ok = state.converged && absent.length === 0
  const pending = state.pending.map(
    (app) => `${app.name} ${app.sync}/${app.health}${app.reason ? ` (${app.reason})` : ''}`,
  )
  return verdict(
    'Applications Synced/Healthy',
    ok,
    ok
      ? `${apps.length} Applications Synced/Healthy: ${names.join(', ')}`
      : `pending: ${pending.join('; ') || '-'}; absent: ${absent.join(', ') || '-'}`,
  )
}

/** A Secret KSOPS decrypted into the cluster holds the expected value (compared, never printed). */
export async function secretHolds(
  kube: Kube,
  namespace: string,
  name: string,
  key: string,
  expected: string,
): Promise<Verdict> {
  const secret = await kube.get(secretRef(name, namespace))
  const value = decode(dataOf(secret)[key])
  return verdict(
    `Secret ${namespace}/${name}`,
    value === expected,
    !secret
      ? 'does not exist'
      : value === expected
        ? `${key} holds the expected value`
        : `${key} holds a different value`,
  )
}

/** The condition of the given type on an Application, e.g. InvalidSpecError when its project refuses it. */
export function appCondition(app: KObject, type: string): string | undefined {
  return ((app.status ?? {}) as AppStatus).conditions?.find((condition) => condition.type === type)?.message
}

/** An Application its project must refuse carries the refusal as a condition. */
export function refusedByProject(app: KObject | undefined, fragment: RegExp): Verdict {
  const message = app && (appCondition(app, 'InvalidSpecError') ?? appCondition(app, 'ComparisonError'))
  const ok = !!message && fragment.test(message)
  return verdict(
    `Application ${app?.metadata.name ?? '?'} refused`,
    ok,
    message ? `condition: ${message}` : 'no refusal condition on the Application',
  )
}

/**
 * An object Argo CD manages, deleted while no application controller ran, is back when the next
 * create returns: create did not take the dead controller's statuses for converged, but asked
 * Argo CD to compare again each Application last compared before the running controller started.
 */
export function driftRepairedAfterControllerRestart(
  createOutput: string,
  object: KObject | undefined,
): Verdict {
  const asked = /last compared before Argo CD's application controller started/.test(createOutput)
  return verdict(
    'drift made while no controller ran: repaired by the next create',
    asked && !!object,
    `${asked ? 'create asked Argo CD to compare the statuses the old controller wrote' : "create never asked Argo CD to compare the old controller's statuses again"}; ${object ? `${object.kind}/${object.metadata.name} is back` : 'the deleted object is still missing when create returns'}`,
  )
}

/**
 * A create with nothing new wrote no Helm revision: the runbook read its release first and found it
 * as it would install it (lib/helm/release.ts). Kind runs it on Argo CD's release, the local tier on
 * a chart of its own.
 */
export function helmRevisionKept(
  release: string,
  before: number | undefined,
  after: number | undefined,
): Verdict {
  const ok = before !== undefined && after === before
  return verdict(
    `helm release ${release} kept its revision`,
    ok,
    before === undefined
      ? 'no release before the second create'
      : ok
        ? `still revision ${before}`
        : `revision ${before} became ${after ?? 'none'}: the second create wrote the release again`,
  )
}

/**
 * The resourceVersion of every object the runbook itself applies (labelled managed-by
 * platform-bootstrap), by kind/namespace/name: what a create that writes nothing leaves as it was.
 */
export async function managedVersions(kube: Kube, env: EnvConfig): Promise<Record<string, string>> {
  const selector = MANAGED_BY_SELECTOR
  const lists = await Promise.all([
    kube.list('v1', 'Namespace', undefined, selector),
    kube.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, selector),
    ...env.namespaces.flatMap((ns) => [
      kube.list('v1', 'Secret', ns, selector),
      kube.list('v1', 'ConfigMap', ns, selector),
      kube.list('apps/v1', 'Deployment', ns, selector),
    ]),
  ])
  const kinds = [
    'Namespace',
    'CustomResourceDefinition',
    ...env.namespaces.flatMap(() => ['Secret', 'ConfigMap', 'Deployment']),
  ]
  return Object.fromEntries(
    lists.flatMap((items, i) =>
      items.map((item) => [
        `${kinds[i]}/${item.metadata.namespace ? `${item.metadata.namespace}/` : ''}${item.metadata.name}`,
        String(item.metadata.resourceVersion),
      ]),
    ),
  )
}

export function resourceVersionsKept(before: Record<string, string>, after: Record<string, string>): Verdict {
  const moved = Object.keys({ ...before, ...after })
    .filter((key) => before[key] !== after[key])
    .sort()
  return verdict(
    'no resourceVersion moved',
    Object.keys(before).length > 0 && moved.length === 0,
    moved.length
      ? `moved: ${moved.map((key) => `${key} ${before[key] ?? '(new)'} → ${after[key] ?? '(gone)'}`).join(', ')}`
      : `${Object.keys(before).length} objects the runbook applies kept their resourceVersion`,
  )
}

export function failed(verdicts: Verdict[]): Verdict[] {
  return verdicts.filter((v) => !v.ok)
}

// ---------------------------------------------------------------------------------------------
// Checks only the kind e2e can make (real pods, a real OpenBao pod restart, the CSI mounts).
// Same contract: objects in, a verdict out, no secret value in any message.

/** `kind get clusters` lists the environment's cluster. */
export function kindClusterExists(clusters: string[], name: string): Verdict {
  const ok = clusters.includes(name)
  return verdict(
    `kind cluster ${name}`,
    ok,
    ok ? 'exists' : `not among kind's clusters (${clusters.join(', ') || 'none'})`,
  )
}

export async function nodesReady(kube: Kube): Promise<Verdict> {
  const nodes = await kube.list('v1', 'Node')
  const notReady = nodes.filter((node) => !isNodeReady(node)).map((node) => node.metadata.name)
  const ok = nodes.length > 0 && notReady.length === 0
  return verdict(
    'nodes Ready',
    ok,
    nodes.length === 0
      ? 'the cluster has no nodes'
      : ok
        ? `${nodes.length} nodes Ready`
        : `not Ready: ${notReady.join(', ')}`,
  )
}

/** The body of OpenBao's `sys/seal-status`: initialised and unsealed. */
export function openbaoUnsealed(status: unknown, when = ''): Verdict {
  const s = (status ?? {}) as { initialized?: unknown; sealed?: unknown; type?: unknown }
  const ok = s.initialized === true && s.sealed === false
  const found =
    status && typeof status === 'object'
      ? `initialized=${String(s.initialized)}, sealed=${String(s.sealed)}`
      : 'no seal status'
  return verdict(
    `OpenBao initialised and unsealed${when ? ` ${when}` : ''}`,
    ok,
    ok ? `unsealed (seal type ${String(s.type ?? '?')})` : found,
  )
}

/** After the OpenBao pod was deleted, a new pod (another uid) runs in its place. */
export function podReplaced(before: KObject | undefined, after: KObject | undefined): Verdict {
  const phase = (after?.status as { phase?: string } | undefined)?.phase
  const ok = !!before && !!after && after.metadata.uid !== before.metadata.uid && phase === 'Running'
  const name = before?.metadata.name ?? '?'
  return verdict(
    `pod ${name} replaced`,
    ok,
    !before
      ? 'there was no pod to delete'
      : !after
        ? 'no pod came back'
        : ok
          ? `${after.metadata.name} Running again (new uid)`
          : `found ${after.metadata.name} ${phase ?? 'without a phase'}${after.metadata.uid === before.metadata.uid ? ', still the deleted one' : ''}`,
  )
}

/** SHA-256 hex of a value: what a probe pod prints instead of the value it read. */
export function digestOf(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/**
 * A finished probe pod wrote the SHA-256 of the file it read from its CSI mount to its
 * termination message: the value is compared through its digest and never leaves the pod.
 */
export function mountedFileHolds(probe: KObject | undefined, file: string, expected: string): Verdict {
  const status = probe?.status as
    | {
        phase?: string
        containerStatuses?: {
          state?: { terminated?: { exitCode?: number; message?: string; reason?: string } }
        }[]
      }
    | undefined
  const terminated = status?.containerStatuses?.[0]?.state?.terminated
  const printed = terminated?.message?.trim()
  const ok = status?.phase === 'Succeeded' && printed === digestOf(expected)
  const name = `file ${file} in pod ${probe?.metadata.name ?? '?'}`
  if (!probe) return verdict(name, false, 'the probe pod does not exist')
  if (!terminated)
    return verdict(name, false, `the probe did not finish (phase ${status?.phase ?? 'unknown'})`)
  if (terminated.exitCode !== 0)
    return verdict(
      name,
      false,
      `the probe could not read it: exit ${terminated.exitCode} ${terminated.reason ?? ''}`.trim(),
    )
  return verdict(
    name,
    ok,
    ok
      ? 'holds the value written to OpenBao'
      : printed
        ? 'holds a different value than OpenBao'
        : 'the probe reported nothing',
  )
}

/** The OpenBao values of a recreated platform are those of the first round (compared, never printed). */
export function openbaoValuesKept(
  first: Record<string, Record<string, string>>,
  second: Record<string, Record<string, string>>,
): Verdict {
  const problems: string[] = []
  for (const [app, fields] of Object.entries(first)) {
    for (const [field, value] of Object.entries(fields)) {
      const now = second[app]?.[field]
      if (now === undefined) problems.push(`${app}/${field} missing`)
      else if (now !== value) problems.push(`${app}/${field} changed`)
    }
  }
  const count = Object.values(first).reduce((sum, fields) => sum + Object.keys(fields).length, 0)
  if (count === 0) problems.push('the first round read no value')
  return verdict(
    'OpenBao values kept across the recreate',
    problems.length === 0,
    problems.join('; ') || `${count} values the same as before`,
  )
}
