import { describe, expect, it } from 'vitest'
import type { KObject } from '../kube.ts'
import { MANAGED_BY } from '../manifests.ts'
import { namespacesMade, rootsApplications } from './existing-teardown.ts'

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
