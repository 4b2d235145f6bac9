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

interface AppStatus {
  sync?: { status?: string }
  health?: { status?: string; message?: string }
  conditions?: { type: string; message: string }[]
  operationState?: { phase?: string; message?: string }
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
