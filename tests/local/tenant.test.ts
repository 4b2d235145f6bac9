import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../lib/core/wait.ts'
import { localLayout, servedReposDir } from '../../lib/local/layout.ts'
import { applicationsConverged, refusedByProject, type Verdict } from '../assertions/assertions.ts'
import { makeWorkspace, type Workspace } from './workspace.ts'

/**
 * `just tenant add` and `remove` on the local provider, through the real Argo CD: a tenant added
 * converges with the rest on the next create (its starter Deployment synced into its namespace, its
 * AppProject refusing anything outside it), and a tenant removed is taken away by the next create
 * — its Application, namespace and workloads by Argo CD's prune, its repository Secret by step 04.
 */
let ws: Workspace
const REPO = 'https://git.example.org/team-b/workloads.git'
const APPS = ['root', 'platform-config', 'tenant-onboarding', 'tenant-a', 'team-b']

beforeAll(async () => {
  ws = await makeWorkspace()
  const created = await ws.cli('scripts/create.ts')
  expect(created.code, created.output).toBe(0)
}, 600_000)

afterAll(async () => {
  await ws?.dispose()
})

const kube = () => ws.kube()
const ref = (apiVersion: string, kind: string, name: string, namespace?: string) => ({
  apiVersion,
  kind,
  name,
  ...(namespace ? { namespace } : {}),
})

describe('tenant add / remove, then create local (the real Argo CD)', () => {
  it('a tenant added converges on the next create, fenced in by its AppProject', async () => {
    const added = await ws.cli('scripts/tenant.ts', ['add', 'team-b', '--repo', REPO])
    expect(added.code, added.output).toBe(0)
    const created = await ws.cli('scripts/create.ts')
    expect(created.code, created.output).toBe(0)
    const converged = await applicationsConverged(kube(), ws.env, APPS)
    expect(converged.ok, converged.message).toBe(true)
    const deployment = await kube().get(ref('apps/v1', 'Deployment', 'hello', 'team-b'))
    expect(deployment?.metadata.labels?.['app.kubernetes.io/part-of']).toBe('team-b')
    expect(await kube().get(ref('v1', 'Secret', 'repo-tenant-team-b', 'argocd'))).toBeDefined()

    // Its project refuses an Application of its repository aimed at another tenant's namespace.
    const escapingApp = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'team-b-escape', namespace: 'argocd' },
      spec: {
        project: 'team-b',
        source: {
          repoURL: `file://${join(servedReposDir(localLayout(join(ws.stateDir, 'local'))), 'tenant-team-b')}`,
          path: '.',
          targetRevision: 'HEAD',
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'tenant-a' },
      },
    }
    await kube().apply(escapingApp)
    try {
      let last: Verdict = refusedByProject(undefined, /./)
      await waitFor(
        'Argo CD to refuse Application team-b-escape',
        async () => {
          last = refusedByProject(
            await kube().get(ref('argoproj.io/v1alpha1', 'Application', 'team-b-escape', 'argocd')),
            /do not match any of the allowed destinations in project 'team-b'/,
          )
          return last.ok
        },
        { timeoutMs: 60_000, intervalMs: 1000, describeLast: () => last.message },
      )
      expect(last.ok, last.message).toBe(true)
    } finally {
      await kube().delete(ref('argoproj.io/v1alpha1', 'Application', 'team-b-escape', 'argocd'))
    }
  }, 600_000)

  it('a tenant removed is taken away by the next create: Argo CD prunes it, step 04 drops its credential', async () => {
    const removed = await ws.cli('scripts/tenant.ts', ['remove', 'team-b'])
    expect(removed.code, removed.output).toBe(0)
    const created = await ws.cli('scripts/create.ts')
    expect(created.code, created.output).toBe(0)
    expect(created.output).toMatch(/Secret\/argocd\/repo-tenant-team-b: deleted/)
    expect(await kube().get(ref('v1', 'Secret', 'repo-tenant-team-b', 'argocd'))).toBeUndefined()
    await waitFor(
      'Argo CD to prune tenant team-b',
      async () =>
        !(await kube().get(ref('argoproj.io/v1alpha1', 'Application', 'team-b', 'argocd'))) &&
        !(await kube().get(ref('argoproj.io/v1alpha1', 'AppProject', 'team-b', 'argocd'))) &&
        !(await kube().get(ref('apps/v1', 'Deployment', 'hello', 'team-b'))),
      { timeoutMs: 120_000, intervalMs: 1000 },
    )
    const namespace = await kube().get(ref('v1', 'Namespace', 'team-b'))
    expect(!namespace || !!namespace.metadata.deletionTimestamp, 'namespace team-b gone or going').toBe(true)
    const converged = await applicationsConverged(
      kube(),
      ws.env,
      APPS.filter((app) => app !== 'team-b'),
    )
    expect(converged.ok, converged.message).toBe(true)
    for (const output of ws.transcript)
      for (const value of Object.values(ws.planted)) expect(output).not.toContain(value)
  }, 600_000)
})
