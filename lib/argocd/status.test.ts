import { describe, expect, it } from 'vitest'
import { recordedApplication } from '../../tests/helpers/applications.ts'
import type { KObject } from '../kube/client.ts'
import { appVerdict, convergence, HEALTHY_AFTER_LABEL } from './status.ts'

/** Application objects as read from a cluster (trimmed to the fields that matter). */
const application = (name: string, status?: Record<string, unknown>): KObject =>
  recordedApplication(name, status, {
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc' } },
  })

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

describe('convergence', () => {
  it('is not converged for an empty list', () => {
    expect(convergence([])).toEqual({ converged: false, pending: [], verdicts: [], deferred: [] })
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

describe('convergence, leaving Applications for openbao-setup (as recorded on dev before step 09)', () => {
  const labelled = (app: KObject): KObject => ({
    ...app,
    metadata: { ...app.metadata, labels: { [HEALTHY_AFTER_LABEL]: 'openbao-setup' } },
  })
  // The consumers' pods wait in ContainerCreating: the CSI driver cannot log in to OpenBao yet.
  const consumers = labelled(
    application('secret-consumers', {
      sync: { status: 'Synced', revision: '3f1c2a9' },
      health: { status: 'Progressing', message: 'Waiting for rollout to finish' },
      resources: [
        { kind: 'Deployment', name: 'grafana', status: 'Synced', health: { status: 'Progressing' } },
      ],
    }),
  )
  const openbao = application('openbao', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
  const childResources = (consumersHealth: string) => [
    { kind: 'Application', name: 'platform-config', status: 'Synced', health: { status: 'Healthy' } },
    { kind: 'Application', name: 'openbao', status: 'Synced', health: { status: 'Healthy' } },
    { kind: 'Application', name: 'secret-consumers', status: 'Synced', health: { status: consumersHealth } },
  ]
  // The App of Apps waits on the last wave's health, so it is Progressing with its operation running.
  const root = application('root', {
    sync: { status: 'Synced', revision: '3f1c2a9' },
    health: { status: 'Progressing' },
    operationState: {
      phase: 'Running',
      message: 'waiting for healthy state of argoproj.io/Application/secret-consumers',
    },
    resources: childResources('Progressing'),
  })

  it('counts the labelled app, and the root waiting only on it, as left for that step', () => {
    const state = convergence([root, healthy, openbao, consumers], 'openbao-setup')
    expect(state.converged).toBe(true)
    expect(state.pending).toEqual([])
    expect(state.deferred.map((v) => v.name).sort()).toEqual(['root', 'secret-consumers'])
  })

  it("Argo CD 3 (resource health kept out of the Application): the root's children and its health causes say it", () => {
    // As recorded on the local tier with v3.6.1: no health on the root's resources, its operation
    // done, its health caused by the labelled child alone.
    const noHealth = childResources('Progressing').map(({ health: _h, ...r }) => r)
    const rootV3 = application('root', {
      sync: { status: 'Synced' },
      health: { status: 'Progressing', message: 'Caused by argoproj.io/Application:argocd/secret-consumers' },
      operationState: { phase: 'Succeeded', message: 'successfully synced (all tasks run)' },
      resources: noHealth,
    })
    const state = convergence([rootV3, healthy, openbao, consumers], 'openbao-setup')
    expect(state.converged).toBe(true)
    expect(state.deferred.map((v) => v.name).sort()).toEqual(['root', 'secret-consumers'])
    // A cause that is not left for the step keeps the root pending.
    const openbaoStarting = application('openbao', {
      sync: { status: 'Synced' },
      health: { status: 'Progressing' },
    })
    const rootOnBoth = application('root', {
      ...(rootV3.status as object),
      health: {
        status: 'Progressing',
        message:
          'Caused by argoproj.io/Application:argocd/openbao, argoproj.io/Application:argocd/secret-consumers',
      },
    })
    expect(
      convergence([rootOnBoth, healthy, openbaoStarting, consumers], 'openbao-setup').pending.map(
        (v) => v.name,
      ),
    ).toEqual(['root', 'openbao'])
  })

  it('an app still at an earlier commit is pending, not left: Argo CD has yet to sync what was published', () => {
    // As a CI run saw it: a create publishing new Applications; the consumers' refresh asked for and
    // the root Synced/Healthy, both still at the previous commit. Left, they would have ended step 08
    // before the root had even created the new Applications.
    const published = 'b2c3d4e'
    const asked = { 'argocd.argoproj.io/refresh': 'normal' }
    const consumersBehind = labelled(
      application('secret-consumers', {
        sync: { status: 'Synced', revision: '3f1c2a9' },
        health: { status: 'Healthy' },
      }),
    )
    consumersBehind.metadata = { ...consumersBehind.metadata, annotations: asked }
    const rootBehind = application('root', {
      sync: { status: 'Synced', revision: '3f1c2a9' },
      health: { status: 'Healthy' },
      resources: childResources('Healthy'),
    })
    const current = (app: KObject) => ({
      ...app,
      status: { ...(app.status as object), sync: { status: 'Synced', revision: published } },
    })
    const apps = [rootBehind, current(healthy), current(openbao), consumersBehind]
    const state = convergence(apps, 'openbao-setup', () => published)
    expect(state.converged).toBe(false)
    expect(state.deferred).toEqual([])
    expect(state.pending.map((v) => `${v.name}: ${v.reason}`)).toEqual([
      'root: at 3f1c2a9, not yet at the published b2c3d4e',
      'secret-consumers: at 3f1c2a9, not yet at the published b2c3d4e',
    ])
    // Once Argo CD has compared them with the published commit, the same two are left for the step.
    const consumersCurrent = labelled(current(consumers))
    const rootCurrent = current(root)
    const later = convergence(
      [rootCurrent, current(healthy), current(openbao), consumersCurrent],
      'openbao-setup',
      () => published,
    )
    expect(later.converged).toBe(true)
    expect(later.deferred.map((v) => v.name).sort()).toEqual(['root', 'secret-consumers'])
  })

  it('without a step to leave them for, they are pending', () => {
    const state = convergence([root, healthy, openbao, consumers])
    expect(state.converged).toBe(false)
    expect(state.pending.map((v) => v.name)).toEqual(['root', 'secret-consumers'])
  })

  it('still waits for an unlabelled app, and for a root that has not yet created the consumers', () => {
    const rootBeforeWave12 = application('root', {
      sync: { status: 'OutOfSync' },
      health: { status: 'Missing' },
      resources: [
        ...childResources('Healthy').slice(0, 2),
        { kind: 'Application', name: 'secret-consumers', status: 'OutOfSync', health: { status: 'Missing' } },
      ],
    })
    expect(
      convergence([rootBeforeWave12, healthy, openbao], 'openbao-setup').pending.map((v) => v.name),
    ).toEqual(['root'])
    const openbaoStarting = application('openbao', {
      sync: { status: 'Synced' },
      health: { status: 'Progressing' },
    })
    const rootOnBoth = application('root', {
      sync: { status: 'Synced' },
      health: { status: 'Progressing' },
      resources: [
        { kind: 'Application', name: 'openbao', status: 'Synced', health: { status: 'Progressing' } },
        {
          kind: 'Application',
          name: 'secret-consumers',
          status: 'Synced',
          health: { status: 'Progressing' },
        },
      ],
    })
    const state = convergence([rootOnBoth, openbaoStarting, consumers], 'openbao-setup')
    expect(state.pending.map((v) => v.name)).toEqual(['root', 'openbao'])
    expect(state.deferred.map((v) => v.name)).toEqual(['secret-consumers'])
  })

  it('a label for another step leaves nothing for this one; a converged labelled app is simply converged', () => {
    const other = {
      ...consumers,
      metadata: { ...consumers.metadata, labels: { [HEALTHY_AFTER_LABEL]: 'later' } },
    }
    expect(convergence([other], 'openbao-setup').pending.map((v) => v.name)).toEqual(['secret-consumers'])
    const done = labelled(
      application('secret-consumers', { sync: { status: 'Synced' }, health: { status: 'Healthy' } }),
    )
    expect(convergence([done], 'openbao-setup')).toMatchObject({ converged: true, deferred: [] })
  })
})
