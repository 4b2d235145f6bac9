import { describe, expect, it } from 'vitest'
import { appCondition, appVerdict, convergence } from './argocd-status.ts'
import type { KObject } from './kube.ts'

/** Application objects as read from a cluster (trimmed to the fields that matter). */
function application(name: string, status?: Record<string, unknown>): KObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd', resourceVersion: '4711' },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc' } },
    ...(status ? { status } : {}),
  }
}

const healthy = application('platform-config', {
  sync: { status: 'Synced', revision: '3f1c2a9' },
  health: { status: 'Healthy' },
  operationState: { phase: 'Succeeded', message: 'successfully synced (all tasks run)' },
  conditions: [{ type: 'SharedResourceWarning', message: 'shared with another app' }],
})

const progressing = application('openbao', {
  sync: { status: 'OutOfSync', revision: '3f1c2a9' },
  health: { status: 'Progressing', message: 'Waiting for rollout to finish' },
  operationState: {
    phase: 'Running',
    message: 'waiting for healthy state of apps/StatefulSet/openbao',
    startedAt: '2026-01-01T00:00:00Z',
  },
})

const DENIED =
  "application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' is not permitted in project 'tenant-a'"
const refused = application('tenant-a', {
  sync: { status: 'Unknown', comparedTo: { source: {}, destination: {} } },
  health: { status: 'Unknown' },
  conditions: [
    { type: 'InvalidSpecError', message: DENIED, lastTransitionTime: '2026-01-01T00:00:00Z' },
    { type: 'ComparisonError', message: 'later condition' },
  ],
})

describe('appVerdict', () => {
  it('calls Synced and Healthy converged, with no reason', () => {
    expect(appVerdict(healthy)).toEqual({
      name: 'platform-config',
      converged: true,
      sync: 'Synced',
      health: 'Healthy',
    })
  })

  it('gives the running operation as the reason for OutOfSync / Progressing', () => {
    expect(appVerdict(progressing)).toEqual({
      name: 'openbao',
      converged: false,
      sync: 'OutOfSync',
      health: 'Progressing',
      reason: 'Running: waiting for healthy state of apps/StatefulSet/openbao',
    })
  })

  it('gives the first condition when the project refuses the app', () => {
    expect(appVerdict(refused)).toEqual({
      name: 'tenant-a',
      converged: false,
      sync: 'Unknown',
      health: 'Unknown',
      reason: `InvalidSpecError: ${DENIED}`,
    })
  })

  it('falls back to the health message when the last operation succeeded', () => {
    const degraded = application('harbor', {
      sync: { status: 'Synced' },
      health: { status: 'Degraded', message: 'Deployment harbor-core has 0 available replicas' },
      operationState: { phase: 'Succeeded', message: 'successfully synced' },
    })
    expect(appVerdict(degraded).reason).toBe('Deployment harbor-core has 0 available replicas')
    expect(appVerdict(degraded).converged).toBe(false)
  })

  it('says Unknown for an app with no status yet', () => {
    expect(appVerdict(application('new'))).toEqual({
      name: 'new',
      converged: false,
      sync: 'Unknown',
      health: 'Unknown',
    })
  })

  it('needs both Synced and Healthy', () => {
    const synced = application('a', { sync: { status: 'Synced' }, health: { status: 'Progressing' } })
    const healthyOnly = application('b', { sync: { status: 'OutOfSync' }, health: { status: 'Healthy' } })
    expect(appVerdict(synced).converged).toBe(false)
    expect(appVerdict(healthyOnly).converged).toBe(false)
  })
})

describe('appCondition', () => {
  it('finds the message of a condition by type', () => {
    expect(appCondition(refused, 'InvalidSpecError')).toBe(DENIED)
    expect(appCondition(refused, 'ComparisonError')).toBe('later condition')
    expect(appCondition(refused, 'SyncError')).toBeUndefined()
    expect(appCondition(application('new'), 'InvalidSpecError')).toBeUndefined()
  })
})

describe('convergence', () => {
  it('is not converged for an empty list', () => {
    expect(convergence([])).toEqual({ converged: false, pending: [], verdicts: [] })
  })

  it('is converged when every app is Synced and Healthy', () => {
    const result = convergence([healthy, { ...healthy, metadata: { name: 'tenant-onboarding' } }])
    expect(result.converged).toBe(true)
    expect(result.pending).toEqual([])
    expect(result.verdicts.map((v) => v.name)).toEqual(['platform-config', 'tenant-onboarding'])
  })

  it('lists the apps still pending, with their reasons', () => {
    const result = convergence([healthy, progressing, refused])
    expect(result.converged).toBe(false)
    expect(result.pending.map((v) => `${v.name}: ${v.reason}`)).toEqual([
      'openbao: Running: waiting for healthy state of apps/StatefulSet/openbao',
      `tenant-a: InvalidSpecError: ${DENIED}`,
    ])
    expect(result.verdicts).toHaveLength(3)
  })
})
