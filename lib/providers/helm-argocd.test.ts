import { describe, expect, it } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import type { KObject, Kube } from '../kube/client.ts'
import { loadConfig } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { CONTROLLER_POD_SELECTOR, chartControllerStartedAt, waitForWorkloads } from './helm-argocd.ts'

function workload(kind: string, name: string, ready: boolean): KObject {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: 'argocd', generation: 2 },
    spec: { replicas: 1 },
    status: { observedGeneration: 2, readyReplicas: ready ? 1 : 0, updatedReplicas: ready ? 1 : 0 },
  } as unknown as KObject
}

/** A cluster whose listings change from one poll to the next. */
function cluster(polls: { workloads: KObject[]; pods: KObject[] }[]) {
  let poll = 0
  const kube = {
    async list(_apiVersion: string, kind: string) {
      const now = polls[Math.min(poll, polls.length - 1)] as (typeof polls)[number]
      if (kind === 'Pod') {
        poll++
        return now.pods
      }
      return now.workloads.filter((w) => w.kind === kind)
    },
    podLog: async () => 'panic: redis: WRONGPASS invalid username-password pair\n',
  } as unknown as Kube
  const sink = memorySink()
  const ctx = { env: loadConfig('dev'), log: new Logger({ sink }) } as unknown as Context
  return { kube, ctx, polls: () => poll, sink }
}

describe("waiting for Argo CD's workloads", () => {
  it('returns once every Deployment and StatefulSet is rolled out and ready', async () => {
    const { kube, ctx, sink } = cluster([
      { workloads: [workload('Deployment', 'argocd-server', false)], pods: [] },
      {
        workloads: [
          workload('Deployment', 'argocd-server', true),
          workload('StatefulSet', 'argocd-application-controller', true),
        ],
        pods: [],
      },
    ])
    await waitForWorkloads(ctx, kube, 'argocd')
    expect(sink.lines.join('\n')).toMatch(/ready/)
  })

  it('stops at the first poll that shows a crashing pod, naming it, its reason and its last lines', async () => {
    const crashing = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'argocd-server-7d9', namespace: 'argocd' },
      status: {
        containerStatuses: [
          { name: 'server', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ],
      },
    } as unknown as KObject
    const { kube, ctx, polls } = cluster([
      { workloads: [workload('Deployment', 'argocd-server', false)], pods: [crashing] },
    ])
    const started = Date.now()
    const error = await caught(waitForWorkloads(ctx, kube, 'argocd'))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(polls()).toBe(1)
    expect(error.message).toContain(
      'Argo CD cannot start: pod argocd/argocd-server-7d9, container server: CrashLoopBackOff',
    )
    expect(error.message).toContain('panic: redis: WRONGPASS')
    expect(error.hint).toBe(
      '`kubectl -n argocd logs argocd-server-7d9 -c server --previous` shows the whole log',
    )
  })
})

describe("the chart's application controller: when it started", () => {
  const pod = (name: string, states: Record<string, unknown>[]) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'argocd' },
      status: { containerStatuses: states.map((state) => ({ name: 'application-controller', state })) },
    }) as unknown as KObject

  async function startedAt(pods: KObject[]) {
    const asked: string[] = []
    const kube = {
      list: async (_apiVersion: string, kind: string, namespace: string, selector: string) => {
        asked.push(`${kind} ${namespace} ${selector}`)
        return pods
      },
    } as unknown as Kube
    const ctx = { env: loadConfig('dev'), kube: async () => kube } as unknown as Context
    return { at: await chartControllerStartedAt(ctx), asked }
  }

  it("reads its pods by the chart's label: the latest start of a running container (a shard or an in-place restart)", async () => {
    const { at, asked } = await startedAt([
      pod('argocd-application-controller-0', [{ running: { startedAt: '2026-12-06T10:00:00Z' } }]),
      pod('argocd-application-controller-1', [{ running: { startedAt: '2026-12-06T10:07:00Z' } }]),
      pod('argocd-application-controller-2', [{ waiting: { reason: 'CrashLoopBackOff' } }]),
    ])
    expect(at?.toISOString()).toBe('2026-12-06T10:07:00.000Z')
    expect(asked).toEqual([`Pod argocd ${CONTROLLER_POD_SELECTOR}`])
  })

  it('is undefined when no container of it runs', async () => {
    expect((await startedAt([pod('argocd-application-controller-0', [{ waiting: {} }])])).at).toBeUndefined()
    expect((await startedAt([])).at).toBeUndefined()
  })
})
