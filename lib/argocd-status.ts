import type { KObject } from './kube.ts'

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

export function appVerdict(app: KObject): AppVerdict {
  const status = (app.status ?? {}) as AppStatus
  const sync = status.sync?.status ?? 'Unknown'
  const health = status.health?.status ?? 'Unknown'
  const converged = sync === 'Synced' && health === 'Healthy'
  const condition = status.conditions?.[0]
  const operation = status.operationState
  const reason = converged
    ? undefined
    : condition
      ? `${condition.type}: ${condition.message}`
      : operation?.phase && operation.phase !== 'Succeeded'
        ? `${operation.phase}: ${operation.message ?? ''}`.trim()
        : status.health?.message
  return { name: app.metadata.name, converged, sync, health, ...(reason ? { reason } : {}) }
}

/** The condition of the given type on an Application, e.g. InvalidSpecError when its project refuses it. */
export function appCondition(app: KObject, type: string): string | undefined {
  return ((app.status ?? {}) as AppStatus).conditions?.find((condition) => condition.type === type)?.message
}

export function convergence(apps: KObject[]): {
  converged: boolean
  pending: AppVerdict[]
  verdicts: AppVerdict[]
} {
  const verdicts = apps.map(appVerdict)
  const pending = verdicts.filter((verdict) => !verdict.converged)
  return { converged: apps.length > 0 && pending.length === 0, pending, verdicts }
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
