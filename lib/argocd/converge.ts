import { BootstrapError } from '../core/errors.ts'
import { waitFor } from '../core/wait.ts'
import { type KObject, type Kube, refOf } from '../kube/client.ts'
import type { Context } from '../runner/context.ts'
import { formatMs } from '../runner/log.ts'
import { type AppError, FIXES, LingeringErrors, StuckErrors } from './app-errors.ts'
import { type ExpectedRevision, expectedRevisions } from './revisions.ts'
import {
  type AppVerdict,
  type Convergence,
  convergence,
  describeApplication,
  REFRESH_ANNOTATION,
} from './status.ts'

const APPS = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' }
/** Asks Argo CD to compare an Application with git now, not at its next reconciliation. */
const REFRESH = { [REFRESH_ANNOTATION]: 'normal' }

export interface ConvergeOptions {
  /**
   * A later step (`openbao-setup`): the Applications labelled healthy-after it, and those waiting on
   * nothing but them, are not waited for now. Unset: every Application counts.
   */
  leaveFor?: string
  /**
   * How many of the run's changes (the first ones, in the order made) ask every Application to
   * refresh; default all. 09 passes how many there were before its own: what OpenBao setup applies
   * (the auth-delegator bindings) no Application renders or manages, and what it does to pods
   * Argo CD sees through its own watches — asking a hundred Applications to compare again would
   * only keep Argo CD busy after the run.
   */
  refreshFor?: number
  /** Injectable for tests: the clock the stuck-error window runs on, and how long it is. */
  now?: () => number
  stuckAfterMs?: number
  lingerAfterMs?: number
}

/** With nothing new to say, the wait still says where it stands this often. */
const HEARTBEAT_MS = 30_000

/**
 * Waits until every Application is Synced at the commit this run published, Healthy, with no
 * operation running, saying which are pending and why whenever that changes. An Application whose
 * error waiting will not fix (app-errors.ts) stops the wait once it has stayed the same for the
 * stuck window, one line of cause per Application; a timeout ends it otherwise. Either way the
 * diagnostics a person needs come first, then a non-zero exit.
 */
export async function waitForConvergence(ctx: Context, options: ConvergeOptions = {}): Promise<void> {
  const kube = await ctx.kube()
  const now = options.now ?? (() => performance.now())
  const started = now()
  const what = options.leaveFor
    ? `every Application not left for ${options.leaveFor} to be Synced and Healthy`
    : 'every Application to be Synced and Healthy'
  const stuck = new StuckErrors(options.stuckAfterMs)
  const lingering = new LingeringErrors(options.lingerAfterMs)
  let lastSaidAt = started
  const refreshed = new Set<string>()
  const terminated = new Set<string>()
  let expected: ExpectedRevision | undefined
  let resolvedFor = ''
  let lastReport = ''
  const pendingSince = new Map<string, number>()
  let lastApps: KObject[] = []
  let state: Convergence | undefined
  const askedForStart = new Map<string, number>()
  let controllerAbsentSaid = false
  try {
    await waitFor(
      what,
      async () => {
        lastApps = await kube.list(APPS.apiVersion, APPS.kind, ctx.env.argocd.namespace)
        // Resolved again only when the set of Applications changes (the root creates them wave by wave).
        const names = lastApps.map((app) => app.metadata.name).join(' ')
        if (!expected || names !== resolvedFor) {
          expected = await expectedRevisions(lastApps, await revisionDeps(ctx))
          resolvedFor = names
        }
        // Read each poll: a controller restarting as the wait begins counts from its new start.
        const controllerStartedAt = await ctx.provider.argocdControllerStartedAt(ctx)
        // With none running, every status is a dead controller's.
        if (!controllerStartedAt) {
          if (!controllerAbsentSaid)
            ctx.log.detail(
              `Argo CD's application controller is not running: no Application counts until it is (\`kubectl -n ${ctx.env.argocd.namespace} get pods\`)`,
            )
          controllerAbsentSaid = true
          return false
        }
        controllerAbsentSaid = false
        // What was just listed predates the request.
        if (await refreshPredecessorsStatuses(ctx, kube, lastApps, controllerStartedAt, askedForStart))
          return false
        const counted = Math.min(ctx.changed?.size ?? 0, options.refreshFor ?? Number.POSITIVE_INFINITY)
        if (ctx.changed && counted > (refreshedAfter.get(ctx.changed) ?? 0)) {
          refreshedAfter.set(ctx.changed, counted)
          await refreshAll(ctx, kube, lastApps, refreshed)
          // What was just listed predates the request.
          if (lastApps.length) return false
        }
        await refreshBehind(kube, lastApps, expected, refreshed)
        await terminateStale(ctx, kube, lastApps, expected, terminated)
        state = convergence(lastApps, options.leaveFor, expected)
        const pending = new Set(state.pending.map((verdict) => verdict.name))
        const errors = stuck.observe(
          lastApps.filter((app) => pending.has(app.metadata.name)),
          now(),
        )
        if (errors) throw willNotConverge(errors)
        if (state.converged) return true
        for (const { app, line, forMs } of lingering.observe(
          lastApps.filter((app) => pending.has(app.metadata.name)),
          now(),
        )) {
          ctx.log.warn(
            `${app} has shown the same error for ${formatMs(forMs)}, still waiting (up to converge.timeoutSeconds, ${ctx.env.converge.timeoutSeconds} s): ${line}`,
          )
          lastSaidAt = now()
        }
        const report = pendingReport(state.pending, pendingSince, now())
        if (report !== lastReport || now() - lastSaidAt >= HEARTBEAT_MS) {
          const still = report === lastReport ? 'still ' : ''
          lastReport = report
          lastSaidAt = now()
          const done = lastApps.length - state.pending.length - state.deferred.length
          ctx.log.detail(
            `${formatMs(now() - started)}: ${done}/${lastApps.length} converged; ${still}pending: ${report || 'no Applications yet'}`,
          )
        }
        return false
      },
      {
        timeoutMs: ctx.env.converge.timeoutSeconds * 1000,
        // One list request per poll: cheap enough to notice the last Application within half a second.
        intervalMs: 500,
        hint: `the diagnostics above say what each pending Application waits for (\`kubectl -n ${ctx.env.argocd.namespace} get applications\`); a slow cluster needs a larger converge.timeoutSeconds in config.yaml`,
      },
    )
  } catch (error) {
    if (error instanceof BootstrapError)
      await printDiagnostics(ctx, kube, lastApps, options.leaveFor, expected)
    throw error
  }
  const deferred = state?.deferred ?? []
  ctx.log.detail(
    `${lastApps.length - deferred.length} Applications Synced/Healthy after ${formatMs(now() - started)}`,
  )
  if (deferred.length)
    ctx.log.detail(
      `left for ${options.leaveFor}, which they need first: ${deferred.map(describeVerdict).join('; ')}`,
    )
}

async function revisionDeps(ctx: Context) {
  return {
    env: ctx.env,
    source: await ctx.source(),
    values: (await ctx.secrets()).values,
    run: ctx.run,
    warn: (message: string) => ctx.log.warn(message),
  }
}

/**
 * This run changed the cluster (an object applied, Argo CD upgraded): a status written before —
 * by the controller that was replaced, or before the change — says nothing about now. Every
 * Application is asked to refresh, and counts only once Argo CD has (it removes the request).
 */
/**
 * How many of a run's changes the last refresh of every Application came after: 09 waits again
 * after 08, and asks again only for changes made since (a hundred refreshes cost seconds).
 */
const refreshedAfter = new WeakMap<Set<string>, number>()

async function refreshAll(ctx: Context, kube: Kube, apps: KObject[], refreshed: Set<string>): Promise<void> {
  await askRefresh(kube, apps, refreshed)
  const changed = [...(ctx.changed ?? [])]
  ctx.log.detail(
    `this run changed ${changed.length === 1 ? changed[0] : `${changed.length} objects (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''})`}: every Application counts once Argo CD has compared it again`,
  )
}

/**
 * A restarted application controller compares again only the Applications it last compared longer
 * ago than its reconciliation timeout; the others keep the status its predecessor wrote until then
 * — Synced and Healthy over an object deleted while no controller ran, or Progressing in the sync
 * it died in. Each is asked to refresh once per controller start (`asked`: name → the start it was
 * asked for), unless a request is already waiting on it; returns whether any was.
 */
async function refreshPredecessorsStatuses(
  ctx: Context,
  kube: Kube,
  apps: KObject[],
  controllerStartedAt: Date,
  asked: Map<string, number>,
): Promise<boolean> {
  const start = controllerStartedAt.getTime()
  const stale = apps.filter((app) => {
    if (asked.get(app.metadata.name) === start || refreshPending(app)) return false
    const reconciledAt = Date.parse((app.status as { reconciledAt?: string } | undefined)?.reconciledAt ?? '')
    return reconciledAt <= start
  })
  if (!stale.length) return false
  for (const app of stale) {
    asked.set(app.metadata.name, start)
    await requestRefresh(kube, app)
  }
  const names = stale.map((app) => app.metadata.name)
  ctx.log.detail(
    `${stale.length === 1 ? '1 Application was' : `${stale.length} Applications were`} last compared before Argo CD's application controller started (${controllerStartedAt.toISOString().replace(/\.\d+Z$/, 'Z')}): ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}; each counts once Argo CD has compared it again`,
  )
  return true
}

/**
 * An Application synced at another commit than the published one has not looked at git since:
 * ask Argo CD to, once per run. An Application already at it is not touched, so a run with
 * nothing new writes nothing; nor is one Argo CD has never compared (no reconciledAt: just
 * created), which it compares at the current commit on its own — asking would only add a write
 * and a second comparison per new Application.
 */
async function refreshBehind(
  kube: Kube,
  apps: KObject[],
  expected: ExpectedRevision,
  refreshed: Set<string>,
): Promise<void> {
  const behind = apps.filter((app) => {
    const want = expected(app)
    const status = app.status as { sync?: { revision?: string }; reconciledAt?: string } | undefined
    return want && status?.reconciledAt && status.sync?.revision !== want
  })
  await askRefresh(kube, behind, refreshed)
}

/**
 * Asks Argo CD to refresh each Application not asked yet this run (`refreshed` remembers); one a
 * request already waits on is left as it is.
 */
async function askRefresh(kube: Kube, apps: KObject[], refreshed: Set<string>): Promise<void> {
  for (const app of apps) {
    if (refreshed.has(app.metadata.name)) continue
    refreshed.add(app.metadata.name)
    if (!refreshPending(app)) await requestRefresh(kube, app)
  }
}

const refreshPending = (app: KObject) => !!app.metadata.annotations?.[REFRESH_ANNOTATION]
const requestRefresh = (kube: Kube, app: KObject) =>
  kube.mergePatch(refOf(app), { metadata: { annotations: REFRESH } })

/**
 * A sync still running at another commit than the published one — typically an App of Apps
 * waiting for the health of a child that will never be Healthy — keeps Argo CD from syncing the
 * new commit at all: no automated sync starts while an operation runs, and a sync waits for health
 * without end. Terminated, once per run, as `argocd app terminate-op` does (phase Terminating);
 * Argo CD then syncs what was published.
 */
async function terminateStale(
  ctx: Context,
  kube: Kube,
  apps: KObject[],
  expected: ExpectedRevision,
  terminated: Set<string>,
): Promise<void> {
  for (const app of apps) {
    const want = expected(app)
    const op = (app.status as { operationState?: OperationState } | undefined)?.operationState
    const syncing = op?.operation?.sync?.revision || op?.syncResult?.revision
    if (!want || op?.phase !== 'Running' || !syncing || syncing === want || terminated.has(app.metadata.name))
      continue
    terminated.add(app.metadata.name)
    await kube.mergePatch(refOf(app), { status: { operationState: { phase: 'Terminating' } } })
    ctx.log.detail(
      `${app.metadata.name}: its sync of ${syncing.slice(0, 7)} was still running (${op.message || 'no message'}): terminated, so Argo CD syncs the published ${want.slice(0, 7)}`,
    )
  }
}

interface OperationState {
  phase?: string
  message?: string
  operation?: { sync?: { revision?: string } }
  syncResult?: { revision?: string }
}

function willNotConverge(errors: { app: string; error: AppError }[]): BootstrapError {
  const lines = errors.map(({ app, error }) => `    ${app}: ${error.line}`)
  const causes = [...new Set(errors.map(({ error }) => error.cause))]
  return new BootstrapError(
    `${errors.length === 1 ? 'an Application' : `${errors.length} Applications`} will not converge by waiting:\n${lines.join('\n')}`,
    { hint: causes.map((cause) => FIXES[cause]).join('; ') },
  )
}

/** One line per Application: its state and the first line of why (the whole text is for the diagnostics). */
/** How many pending Applications a progress line names: the longest pending, then a count. */
export const PENDING_SHOWN = 3

/**
 * The pending part of a progress line, readable with a hundred Applications: the ones pending
 * longest (since `since` first saw each; it forgets those no longer pending), then how many more.
 */
export function pendingReport(pending: AppVerdict[], since: Map<string, number>, now: number): string {
  const names = new Set(pending.map((app) => app.name))
  for (const name of since.keys()) if (!names.has(name)) since.delete(name)
  for (const app of pending) if (!since.has(app.name)) since.set(app.name, now)
  const longest = [...pending].sort(
    (a, b) => (since.get(a.name) ?? now) - (since.get(b.name) ?? now) || a.name.localeCompare(b.name),
  )
  const shown = longest.slice(0, PENDING_SHOWN).map(describeVerdict).join('; ')
  const more = pending.length - PENDING_SHOWN
  return more > 0 ? `${shown}; and ${more} more` : shown
}

const describeVerdict = (app: AppVerdict) =>
  `${app.name} ${app.sync}/${app.health}${app.reason ? ` — ${summary(app.reason)}` : ''}`

function summary(reason: string): string {
  const line = (reason.split('\n').find((l) => l.trim()) ?? '')
    .replace(/\s*Retrying attempt #\d+ at \S+?\.?$/, '')
    .trim()
  return line.length > 200 ? `${line.slice(0, 197)}...` : line
}

async function printDiagnostics(
  ctx: Context,
  kube: Kube,
  apps: KObject[],
  leaveFor: string | undefined,
  expected: ExpectedRevision | undefined,
): Promise<void> {
  ctx.log.error('diagnostics:')
  const pending = new Set(convergence(apps, leaveFor, expected).pending.map((verdict) => verdict.name))
  for (const app of apps) {
    if (pending.has(app.metadata.name))
      for (const line of describeApplication(app)) ctx.log.error(`  ${line}`)
  }
  const events = await kube.list('v1', 'Event').catch(() => [] as KObject[])
  for (const event of events.filter((e) => e.type === 'Warning').slice(-15)) {
    const involved = event.involvedObject as { kind?: string; name?: string; namespace?: string }
    ctx.log.error(
      `  event ${involved.kind}/${involved.namespace ?? ''}/${involved.name}: ${event.reason}: ${event.message}`,
    )
  }
}
