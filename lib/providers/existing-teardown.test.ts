import { describe, expect, it } from 'vitest'
import type { KObject, Kube } from '../kube/client.ts'
import { MANAGED_BY } from '../kube/manifests.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { deleteRootCascading, namespacesMade, rootsApplications } from './existing-teardown.ts'

const app = (name: string, meta: Record<string, unknown> = {}): KObject => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Application',
  metadata: { name, namespace: 'argocd', ...meta },
})

describe('rootsApplications', () => {
  it('tells the root and what it made (tracking annotation or instance label) from anyone else’s', () => {
    const apps = [
      app('root', { labels: MANAGED_BY }),
      app('openbao', {
        annotations: { 'argocd.argoproj.io/tracking-id': 'root:argoproj.io/Application:argocd/openbao' },
      }),
      app('tenant-a', { labels: { 'app.kubernetes.io/instance': 'root' } }),
      app('someone-elses'),
      // Named root, but not the runbook's: not ours to delete.
      app('root-lookalike', {
        annotations: { 'argocd.argoproj.io/tracking-id': 'other:argoproj.io/Application:argocd/x' },
      }),
    ]
    expect(rootsApplications(apps)).toEqual({
      ours: ['root', 'openbao', 'tenant-a'],
      foreign: ['someone-elses', 'root-lookalike'],
    })
    expect(rootsApplications([app('root')]).foreign).toEqual(['root'])
  })
})

describe('namespacesMade', () => {
  it('deletes only the namespaces create labelled; keeps those it found; skips the absent', () => {
    const ns = (name: string, labels?: Record<string, string>): KObject => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, ...(labels ? { labels } : {}) },
    })
    expect(
      namespacesMade(
        ['argocd', 'openbao', 'cert-manager', 'gone'],
        [ns('argocd', MANAGED_BY), ns('openbao', MANAGED_BY), ns('cert-manager'), ns('kube-system')],
      ),
    ).toEqual({ made: ['argocd', 'openbao'], kept: ['cert-manager'] })
  })
})

describe('deleteRootCascading', () => {
  const fakeKube = (present: string[]) => {
    const apps = new Set(present)
    const calls: string[] = []
    const kube = {
      get: async (ref: { name: string }) => (apps.has(ref.name) ? app(ref.name) : undefined),
      mergePatch: async (ref: { name: string }, patch: unknown) =>
        void calls.push(`patch ${ref.name} ${JSON.stringify(patch)}`),
      delete: async (ref: { name: string }) => {
        calls.push(`delete ${ref.name}`)
        // Argo CD, running, finishes each deletion: the root last, with everything it made.
        if (ref.name === 'root') apps.clear()
        else apps.delete(ref.name)
        return true
      },
      list: async () => [...apps].map((name) => app(name)),
    } as unknown as Kube
    return { kube, calls }
  }
  const ctx = {
    env: { argocd: { namespace: 'argocd' }, converge: { timeoutSeconds: 30 } },
    log: new Logger({ sink: { out: () => {}, err: () => {} } }),
  } as unknown as Context

  it("gives the root Argo CD's resources finalizer and deletes it: Argo CD takes its Applications with it", async () => {
    const { kube, calls } = fakeKube(['root', 'openbao'])
    await deleteRootCascading(ctx, kube, ['root', 'openbao'])
    expect(calls).toEqual([
      'patch root {"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}',
      'delete root',
    ])
  })

  it('a root already gone (deleted without cascade): deletes what it made one by one, rather than wait for nothing', async () => {
    const { kube, calls } = fakeKube(['openbao', 'tenant-a'])
    await deleteRootCascading(ctx, kube, ['openbao', 'tenant-a'])
    expect(calls).toEqual(['delete openbao', 'delete tenant-a'])
  })
})
