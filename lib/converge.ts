import { type AppVerdict, type Convergence, convergence, describeApplication } from './argocd-status.ts'
import type { Context } from './context.ts'
import { BootstrapError } from './errors.ts'
import type { KObject, Kube } from './kube.ts'
import { formatMs } from './log.ts'
import { waitFor } from './retry.ts'

const APPS = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' }

export interface ConvergeOptions {
  /**
   * A later step (`openbao-setup`): the Applications labelled healthy-after it, and those waiting on
   * nothing but them, are not waited for now. Unset: every Application counts.
   */
  leaveFor?: string
}

/**
 * Waits until every Application is Synced and Healthy, saying which are pending and why
 * whenever that changes. On timeout: the diagnostics a person needs, then a non-zero exit.
 */
export async function waitForConvergence(ctx: Context, options: ConvergeOptions = {}): Promise<void> {
  const kube = await ctx.kube()
  const started = performance.now()
  const what = options.leaveFor
    ? `every Application not left for ${options.leaveFor} to be Synced and Healthy`
    : 'every Application to be Synced and Healthy'
  let lastReport = ''
  let lastApps: KObject[] = []
  let state: Convergence | undefined
  try {
    await waitFor(
      what,
      async () => {
        lastApps = await kube.list(APPS.apiVersion, APPS.kind, ctx.env.argocd.namespace)
        state = convergence(lastApps, options.leaveFor)
        const report = state.pending.map(describeVerdict).join('; ')
        if (report !== lastReport && !state.converged) {
          lastReport = report
          const elapsed = formatMs(performance.now() - started)
          const done = lastApps.length - state.pending.length - state.deferred.length
          ctx.log.detail(
            `${elapsed}: ${done}/${lastApps.length} converged; pending: ${report || 'no Applications yet'}`,
          )
        }
        return state.converged
      },
      { timeoutMs: ctx.env.converge.timeoutSeconds * 1000, intervalMs: 2000 },
    )
  } catch (error) {
    if (error instanceof BootstrapError) await printDiagnostics(ctx, kube, lastApps, options.leaveFor)
    throw error
  }
  const elapsed = formatMs(performance.now() - started)
  const deferred = state?.deferred ?? []
  const converged = lastApps.length - deferred.length
  ctx.log.detail(`${converged} Applications Synced/Healthy after ${elapsed}`)
  if (deferred.length)
    ctx.log.detail(
      `left for ${options.leaveFor}, which they need first: ${deferred.map(describeVerdict).join('; ')}`,
    )
}

const describeVerdict = (app: AppVerdict) =>
  `${app.name} ${app.sync}/${app.health}${app.reason ? ` — ${app.reason}` : ''}`

async function printDiagnostics(
  ctx: Context,
  kube: Kube,
  apps: KObject[],
  leaveFor: string | undefined,
): Promise<void> {
  ctx.log.error('diagnostics:')
  const pending = new Set(convergence(apps, leaveFor).pending.map((verdict) => verdict.name))
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
