import type { KObject } from '../kube/client.ts'

/**
 * Verdicts on Argo CD Applications, from the objects alone: the same functions judge a
 * recorded object in a unit test, the local cluster in CI and kind in the nightly run.
 */
export interface AppVerdict {
  name: string
  converged: boolean
  sync: string
  health: string
  /** Why it is not converged yet: the first condition or operation message. */
  reason?: string
}

/** The part of an Application's status the verdicts and diagnostics read. */
export interface AppStatus {
  sync?: { status?: string; revision?: string }
  health?: { status?: string; message?: string }
  conditions?: { type: string; message: string }[]
  operationState?: { phase?: string; message?: string }
  resources?: {
    kind: string
    name: string
    namespace?: string
    status?: string
    health?: { status?: string; message?: string }
  }[]
}

/** Argo CD's refresh request on an Application; its controller removes it once it has refreshed. */
export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh'

/**
 * Converged: Synced, Healthy, no operation running, no refresh pending — and, when the run knows which commit it
 * published (`expectedRevision`), synced at that commit: a Synced/Healthy verdict on the previous
 * one says nothing about what was just published.
 */
export function appVerdict(app: KObject, expectedRevision?: string): AppVerdict {
  const status = (app.status ?? {}) as AppStatus
  const sync = status.sync?.status ?? 'Unknown'
  const health = status.health?.status ?? 'Unknown'
  const operation = status.operationState
  const running = operation?.phase === 'Running' || app.operation !== undefined
  const revision = status.sync?.revision
  const atRevision = !expectedRevision || revision === expectedRevision
  // A refresh asked for and not yet done: the status is Argo CD's word from before it.
  const refreshing = (app.metadata as { annotations?: Record<string, string> }).annotations?.[
    REFRESH_ANNOTATION
  ]
  const converged = sync === 'Synced' && health === 'Healthy' && !running && atRevision && !refreshing
  const condition = status.conditions?.find((c) => /Error$/.test(c.type)) ?? status.conditions?.[0]
  const reason = converged
    ? undefined
    : condition
      ? `${condition.type}: ${condition.message}`
      : operation?.phase && operation.phase !== 'Succeeded'
        ? `${operation.phase}: ${operation.message ?? ''}`.trim()
        : !atRevision && sync === 'Synced' && health === 'Healthy'
          ? `at ${short(revision)}, not yet at the published ${short(expectedRevision)}`
          : refreshing && sync === 'Synced' && health === 'Healthy'
            ? 'refresh asked for: Argo CD has not compared it again since this run changed the cluster'
            : status.health?.message
  return { name: app.metadata.name, converged, sync, health, ...(reason ? { reason } : {}) }
}

const short = (revision: string | undefined) => (revision ? revision.slice(0, 7) : 'no revision')

/**
 * The label the gitops tree puts on an Application that only a later step of the runbook can make
 * Healthy: `healthy-after: openbao-setup` on the secret consumers, whose pods cannot mount their
 * secrets before step 09 has made OpenBao's auth, roles and values. Step 08 does not wait for
 * them; step 09 does, once it has run.
 */
export const HEALTHY_AFTER_LABEL = 'platform-bootstrap/healthy-after'

export interface Convergence {
  converged: boolean
  pending: AppVerdict[]
  verdicts: AppVerdict[]
  /** Left for a later step: labelled for it, or waiting on nothing but Applications that are. */
  deferred: AppVerdict[]
}

/**
 * Judges every Application. With `leaveFor` (a step name), the Applications labelled
 * healthy-after that step do not count yet, nor does an App of Apps whose only unfinished
 * resources are such Applications (the root waits on their health wave by wave).
 */
export function convergence(
  apps: KObject[],
  leaveFor?: string,
  expected: (app: KObject) => string | undefined = () => undefined,
): Convergence {
  const verdicts = apps.map((app) => appVerdict(app, expected(app)))
  const names = leaveFor ? deferredApplications(apps, leaveFor, expected) : new Set<string>()
  const pending = verdicts.filter((verdict) => !verdict.converged && !names.has(verdict.name))
  const deferred = verdicts.filter((verdict) => names.has(verdict.name))
  return { converged: apps.length > 0 && pending.length === 0, pending, verdicts, deferred }
}

/**
 * Names of the Applications that wait for step `step`: labelled for it, then (to a fixpoint) their
 * parents. Only an Application Argo CD has compared with the published commit is left: one still
 * at an earlier commit waits for Argo CD, not for the step — its children may not even exist yet.
 */
export function deferredApplications(
  apps: KObject[],
  step: string,
  expected: (app: KObject) => string | undefined = () => undefined,
): Set<string> {
  const waiting = (app: KObject) => {
    const want = expected(app)
    const current = !want || (app.status as AppStatus | undefined)?.sync?.revision === want
    return current && !appVerdict(app, want).converged
  }
  const deferred = new Set(
    apps
      .filter((app) => app.metadata.labels?.[HEALTHY_AFTER_LABEL] === step && waiting(app))
      .map((app) => app.metadata.name),
  )
  for (let grew = deferred.size > 0; grew; ) {
    grew = false
    for (const app of apps) {
      if (deferred.has(app.metadata.name) || !waiting(app)) continue
      if (waitsOnlyOn(app, deferred, apps, expected)) {
        deferred.add(app.metadata.name)
        grew = true
      }
    }
  }
  return deferred
}

/**
 * Synced, and what it still waits for is only among the given Applications. Argo CD 3 keeps its
 * resources' health out of the Application (in its resource tree): a resource's own health is read
 * where it is persisted, a child Application's from that Application, and the causes Argo CD names
 * in the app's health message ("Caused by argoproj.io/Application:argocd/x, …") must all be deferred.
 */
function waitsOnlyOn(
  app: KObject,
  names: Set<string>,
  apps: KObject[],
  expected: (app: KObject) => string | undefined,
): boolean {
  const status = (app.status ?? {}) as AppStatus
  if (status.sync?.status !== 'Synced') return false
  const resources = status.resources ?? []
  const isDeferredApp = (r: { kind: string; name: string }) => r.kind === 'Application' && names.has(r.name)
  const child = (name: string) => apps.find((a) => a.metadata.name === name)
  const unfinished = resources.filter((r) => {
    if (r.status !== 'Synced') return true
    if (r.health !== undefined) return r.health.status !== 'Healthy'
    if (r.kind !== 'Application') return false
    const found = child(r.name)
    return !found || !appVerdict(found, expected(found)).converged
  })
  const causes = [
    ...(status.health?.message ?? '').matchAll(/([\w.]*)\/(\w+):(?:[^/,\s]*\/)?([^,\s]+)/g),
  ].map((m) => ({ kind: m[2] ?? '', name: m[3] ?? '' }))
  return unfinished.length > 0 && unfinished.every(isDeferredApp) && causes.every(isDeferredApp)
}

/** What a person needs to see of an Application: sync/health, conditions, operation, every resource not Synced/Healthy. */
export function describeApplication(app: KObject): string[] {
  const status = (app.status ?? {}) as AppStatus
  const lines = [
    `${app.metadata.name}: ${status.sync?.status ?? 'Unknown'}/${status.health?.status ?? 'Unknown'}${status.health?.message ? ` (${status.health.message})` : ''}`,
  ]
  for (const condition of status.conditions ?? [])
    lines.push(`  condition ${condition.type}: ${condition.message}`)
  const op = status.operationState
  if (op?.phase) lines.push(`  operation ${op.phase}${op.message ? `: ${op.message}` : ''}`)
  for (const r of status.resources ?? []) {
    if (r.status === 'Synced' && (!r.health || r.health.status === 'Healthy')) continue
    const health = r.health
      ? ` ${r.health.status ?? ''}${r.health.message ? ` (${r.health.message})` : ''}`
      : ''
    lines.push(
      `  resource ${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}: ${r.status ?? '?'}${health}`,
    )
  }
  return lines
}
