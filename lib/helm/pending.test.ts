import { afterAll, describe, expect, it } from 'vitest'
import { fakeProc } from '../../tests/helpers/fake-proc.ts'
import { helmOperationsHere, isPending, judgePending, pendingElsewhere } from './pending.ts'

const START = Date.parse('2026-12-06T10:00:00Z')
const facts = (over: Partial<Parameters<typeof judgePending>[0]> = {}) => ({
  startedAt: START,
  now: START + 20_000,
  lifetimeMs: 360_000,
  helmHere: 0,
  clusterOnlyHere: false,
  ...over,
})

describe("helm's lock on a release: a pending revision", () => {
  it('is pending-install, -upgrade or -rollback; deployed, failed and superseded are not', () => {
    for (const status of ['pending-install', 'pending-upgrade', 'pending-rollback'])
      expect(isPending(status)).toBe(true)
    for (const status of ['deployed', 'failed', 'superseded', 'uninstalling'])
      expect(isPending(status)).toBe(false)
  })

  it('a helm on this machine still works on it: wait, whatever its age or the cluster', () => {
    expect(judgePending(facts({ helmHere: 1, clusterOnlyHere: true, now: START + 10 * 3_600_000 }))).toEqual({
      verdict: 'running-here',
    })
  })

  it('none here, on a cluster only this machine reaches (kind): dead at once', () => {
    expect(judgePending(facts({ clusterOnlyHere: true }))).toMatchObject({ verdict: 'dead' })
  })

  it('none here, on a shared cluster: maybe running elsewhere until it is older than a helm of the runbook lives', () => {
    expect(judgePending(facts())).toEqual({ verdict: 'maybe-running-elsewhere', deadFrom: START + 360_000 })
    expect(judgePending(facts({ now: START + 359_999 })).verdict).toBe('maybe-running-elsewhere')
    const dead = judgePending(facts({ now: START + 360_000 }))
    expect(dead).toMatchObject({ verdict: 'dead' })
    expect(dead.verdict === 'dead' && dead.why).toMatch(
      /started 360.0 s ago, longer than any helm operation of this runbook lives \(360.0 s\)/,
    )
  })

  it('the refusal names the revision, the lock and when it is taken for dead', () => {
    const error = pendingElsewhere(
      'helm release argocd/argocd (argo-cd 10.1.1)',
      3,
      'pending-upgrade',
      START + 360_000,
      START + 20_000,
    )
    expect(error.message).toContain('revision 3 is pending-upgrade, and no helm on this machine works on it')
    expect(error.hint).toContain('from 2026-12-06T10:06:00.000Z')
  })
})

describe('the helm processes on this machine working on a release', () => {
  const fake = fakeProc()
  afterAll(() => fake.remove())
  const proc = fake.root
  const process = fake.add
  process(10, [
    '/root/.cache/platform-bootstrap/tools/helm/helm',
    'upgrade',
    '--install',
    'argocd',
    'argo-cd',
    '--namespace',
    'argocd',
  ])
  process(11, ['helm', 'rollback', 'argocd', '2', '-n', 'argocd'])
  process(12, ['helm', 'upgrade', '--install', 'argocd', 'argo-cd', '--namespace', 'other'])
  process(13, ['helm', 'list', '--namespace', 'argocd'])
  process(14, ['/usr/bin/vim', 'upgrade', 'argocd', '--namespace', 'argocd'])
  process(15, ['helm', 'uninstall', 'argocd', '--namespace=argocd'])

  it('finds install, upgrade, rollback and uninstall of that name in that namespace, nothing else', () => {
    expect(helmOperationsHere({ name: 'argocd', namespace: 'argocd' }, proc).sort()).toEqual([10, 11, 15])
    expect(helmOperationsHere({ name: 'argocd', namespace: 'other' }, proc)).toEqual([12])
    expect(helmOperationsHere({ name: 'openbao', namespace: 'argocd' }, proc)).toEqual([])
  })
})
