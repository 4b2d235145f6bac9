import { appVerdict, convergence, describeApplication } from './argocd-status.ts'
import type { Context } from './context.ts'
import { BootstrapError } from './errors.ts'
import type { KObject, Kube } from './kube.ts'
import { formatMs } from './log.ts'
import { waitFor } from './retry.ts'

const APPS = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' }

/**
 * Waits until every Application is Synced and Healthy, saying which are pending and why
 * whenever that changes. On timeout: the diagnostics a person needs, then a non-zero exit.
 */
export async function waitForConvergence(ctx: Context): Promise<void> {
  const kube = await ctx.kube()
  const started = performance.now()
  let lastReport = ''
  let lastApps: KObject[] = []
  try {
    await waitFor(
      'every Application to be Synced and Healthy',
      async () => {
        lastApps = await kube.list(APPS.apiVersion, APPS.kind, ctx.env.argocd.namespace)
        const state = convergence(lastApps)
        const report = state.pending
          .map((app) => `${app.name} ${app.sync}/${app.health}${app.reason ? ` — ${app.reason}` : ''}`)
          .join('; ')
        if (report !== lastReport) {
          lastReport = report
          const elapsed = formatMs(performance.now() - started)
          if (state.converged)
            ctx.log.detail(`${lastApps.length} Applications Synced/Healthy after ${elapsed}`)
          else
            ctx.log.detail(
              `${elapsed}: ${lastApps.length - state.pending.length}/${lastApps.length} converged; pending: ${report || 'no Applications yet'}`,
            )
        }
        return state.converged
      },
      { timeoutMs: ctx.env.converge.timeoutSeconds * 1000, intervalMs: 2000 },
    )
  } catch (error) {
    if (error instanceof BootstrapError) await printDiagnostics(ctx, kube, lastApps)
    throw error
  }
}

async function printDiagnostics(ctx: Context, kube: Kube, apps: KObject[]): Promise<void> {
  ctx.log.error('diagnostics:')
  for (const app of apps) {
    if (!appVerdict(app).converged) for (const line of describeApplication(app)) ctx.log.error(`  ${line}`)
  }
  const events = await kube.list('v1', 'Event').catch(() => [] as KObject[])
  for (const event of events.filter((e) => e.type === 'Warning').slice(-15)) {
    const involved = event.involvedObject as { kind?: string; name?: string; namespace?: string }
    ctx.log.error(
      `  event ${involved.kind}/${involved.namespace ?? ''}/${involved.name}: ${event.reason}: ${event.message}`,
    )
  }
}
