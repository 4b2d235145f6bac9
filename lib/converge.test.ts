import { describe, expect, it } from 'vitest'
import { HEALTHY_AFTER_LABEL } from './argocd-status.ts'
import { loadConfig } from './config.ts'
import type { Context } from './context.ts'
import { waitForConvergence } from './converge.ts'
import { BootstrapError } from './errors.ts'
import type { KObject, Kube } from './kube.ts'
import { Logger, memorySink } from './log.ts'

const app = (name: string, status: Record<string, unknown>): KObject =>
  ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd' },
    status,
  }) as KObject

const healthy = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
const degraded = app('tenant-a', {
  sync: { status: 'OutOfSync' },
  health: { status: 'Degraded', message: 'Deployment hello exceeded its progress deadline' },
  conditions: [{ type: 'SyncError', message: 'one or more objects failed to apply' }],
  resources: [
    {
      kind: 'Deployment',
      name: 'hello',
      namespace: 'tenant-a',
      status: 'OutOfSync',
      health: { status: 'Degraded', message: 'progress deadline' },
    },
  ],
})
const warning = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'e', namespace: 'tenant-a' },
  type: 'Warning',
  reason: 'FailedCreate',
  message: 'quota exceeded',
  involvedObject: { kind: 'ReplicaSet', name: 'hello-1', namespace: 'tenant-a' },
} as unknown as KObject

/** A context whose cluster answers with the given Applications (one list per poll, the last one repeating). */
function contextWith(polls: KObject[][], timeoutSeconds: number) {
  const sink = memorySink()
  let call = 0
  const kube = {
    list: async (_apiVersion: string, kind: string) =>
      kind === 'Event' ? [warning] : (polls[Math.min(call++, polls.length - 1)] ?? []),
  } as unknown as Kube
  const env = loadConfig('local')
  const ctx = {
    env: { ...env, converge: { timeoutSeconds } },
    log: new Logger({ sink }),
    kube: async () => kube,
  } as unknown as Context
  return { ctx, sink }
}

describe('08-converge', () => {
  it('returns once every Application is Synced and Healthy, saying which were pending on the way', async () => {
    const { ctx, sink } = contextWith(
      [
        [healthy, app('tenant-a', { sync: { status: 'OutOfSync' }, health: { status: 'Progressing' } })],
        [healthy, app('tenant-a', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })],
      ],
      30,
    )
    await waitForConvergence(ctx)
    const out = sink.lines.join('\n')
    expect(out).toMatch(/1\/2 converged; pending: tenant-a OutOfSync\/Progressing/)
    expect(out).toMatch(/2 Applications Synced\/Healthy after/)
  })

  it('leaves the Applications labelled healthy-after openbao-setup for step 09, and says so', async () => {
    const consumers = {
      ...app('secret-consumers', { sync: { status: 'Synced' }, health: { status: 'Progressing' } }),
      metadata: {
        name: 'secret-consumers',
        namespace: 'argocd',
        labels: { [HEALTHY_AFTER_LABEL]: 'openbao-setup' },
      },
    } as KObject
    const { ctx, sink } = contextWith([[healthy, consumers]], 1)
    await waitForConvergence(ctx, { leaveFor: 'openbao-setup' })
    const out = sink.lines.join('\n')
    expect(out).toMatch(/1 Applications Synced\/Healthy after/)
    expect(out).toMatch(/left for openbao-setup, which they need first: secret-consumers Synced\/Progressing/)
    // Step 09, once it has run, waits for every one of them.
    const after = contextWith([[healthy, consumers]], 1)
    await expect(waitForConvergence(after.ctx)).rejects.toThrow(/timed out after 1 s/)
    expect(after.sink.lines.join('\n')).toContain('secret-consumers: Synced/Progressing')
  })

  it('on timeout: exits with an error and prints app conditions, failing resources and warning events', async () => {
    const { ctx, sink } = contextWith([[healthy, degraded]], 1)
    const error = await waitForConvergence(ctx).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toMatch(
      /timed out after 1 s waiting for every Application to be Synced and Healthy/,
    )
    const out = sink.lines.join('\n')
    expect(out).toContain('tenant-a: OutOfSync/Degraded (Deployment hello exceeded its progress deadline)')
    expect(out).toContain('condition SyncError: one or more objects failed to apply')
    expect(out).toContain('resource Deployment/tenant-a/hello: OutOfSync Degraded (progress deadline)')
    expect(out).toContain('event ReplicaSet/tenant-a/hello-1: FailedCreate: quota exceeded')
    expect(out).not.toContain('platform-config:')
  })
})
