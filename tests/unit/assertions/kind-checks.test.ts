import { describe, expect, it } from 'vitest'
import {
  digestOf,
  failed,
  kindClusterExists,
  mountedFileHolds,
  nodesReady,
  openbaoUnsealed,
  openbaoValuesKept,
  podReplaced,
} from '../../assertions/assertions.ts'
import { clone, FakeKube, node, pod, runningReady } from './fixtures.ts'

/**
 * The checks only a kind cluster gets: its existence, node and pod replacement, mounted files, OpenBao
 * across a restart.
 */

describe('kind-only checks', () => {
  it('the kind cluster among kind’s clusters', () => {
    expect(kindClusterExists(['other', 'platform-dev'], 'platform-dev').ok).toBe(true)
    expect(kindClusterExists([], 'platform-dev')).toMatchObject({
      ok: false,
      message: "not among kind's clusters (none)",
    })
  })

  it('nodes: all Ready, one NotReady, none', async () => {
    expect(await nodesReady(new FakeKube([node('cp', true), node('w1', true)]))).toMatchObject({
      ok: true,
      message: '2 nodes Ready',
    })
    expect(await nodesReady(new FakeKube([node('cp', true), node('w1', false)]))).toMatchObject({
      ok: false,
      message: 'not Ready: w1',
    })
    expect((await nodesReady(new FakeKube())).ok).toBe(false)
  })

  it('OpenBao seal status: unsealed, sealed, uninitialised, no answer', () => {
    expect(openbaoUnsealed({ type: 'static', initialized: true, sealed: false, t: 1, n: 1 })).toMatchObject({
      ok: true,
      message: 'unsealed (seal type static)',
    })
    expect(
      openbaoUnsealed({ type: 'static', initialized: true, sealed: true }, 'after its pod was deleted'),
    ).toMatchObject({
      name: 'OpenBao initialised and unsealed after its pod was deleted',
      ok: false,
      message: 'initialized=true, sealed=true',
    })
    expect(openbaoUnsealed({ initialized: false, sealed: true }).ok).toBe(false)
    expect(openbaoUnsealed(undefined).message).toBe('no seal status')
  })

  it('the OpenBao pod replaced: a new uid Running; the old one, or none, is not', () => {
    const before = pod('openbao', 'openbao-0', runningReady('openbao'), {}, 'uid-a')
    expect(podReplaced(before, pod('openbao', 'openbao-0', { phase: 'Running' }, {}, 'uid-b')).ok).toBe(true)
    expect(podReplaced(before, before).message).toBe('found openbao-0 Running, still the deleted one')
    expect(podReplaced(before, pod('openbao', 'openbao-0', { phase: 'Pending' }, {}, 'uid-b')).ok).toBe(false)
    expect(podReplaced(before, undefined).message).toBe('no pod came back')
  })

  const probe = (state: Record<string, unknown>, phase: string) =>
    pod('monitoring', 'e2e-pattern-a-probe-1', {
      phase,
      containerStatuses: [{ name: 'probe', ready: false, restartCount: 0, state }],
    })

  it('pattern A probe: the digest of the mounted file matches OpenBao’s value, which never appears', () => {
    const value = 'recorded-grafana-admin-password'
    const good = mountedFileHolds(
      probe(
        { terminated: { exitCode: 0, reason: 'Completed', message: `${digestOf(value)}\n` } },
        'Succeeded',
      ),
      '/mnt/secrets/ADMIN_PASSWORD',
      value,
    )
    expect(good).toMatchObject({ ok: true, message: 'holds the value written to OpenBao' })
    const other = mountedFileHolds(
      probe({ terminated: { exitCode: 0, message: digestOf('something else') } }, 'Succeeded'),
      '/mnt/secrets/ADMIN_PASSWORD',
      value,
    )
    expect(other).toMatchObject({ ok: false, message: 'holds a different value than OpenBao' })
    expect(JSON.stringify([good, other])).not.toContain(value)
  })

  it('pattern A probe: a file it could not read, a probe still running, and none', () => {
    expect(
      mountedFileHolds(
        probe({ terminated: { exitCode: 3, reason: 'Error' } }, 'Failed'),
        '/mnt/secrets/X',
        'v',
      ).message,
    ).toBe('the probe could not read it: exit 3 Error')
    expect(
      mountedFileHolds(probe({ waiting: { reason: 'ContainerCreating' } }, 'Pending'), '/mnt/secrets/X', 'v')
        .message,
    ).toBe('the probe did not finish (phase Pending)')
    expect(mountedFileHolds(undefined, '/mnt/secrets/X', 'v').message).toBe('the probe pod does not exist')
  })

  it('OpenBao values across a recreate: the same, changed, missing, and nothing read (names only, never values)', () => {
    const first = {
      grafana: { 'admin-password': 'recorded-one' },
      harbor: { 'admin-password': 'recorded-two', 'cloudflare-api-token': 'recorded-three' },
    }
    expect(openbaoValuesKept(first, clone(first))).toMatchObject({
      ok: true,
      message: '3 values the same as before',
    })
    const changed = openbaoValuesKept(first, {
      grafana: { 'admin-password': 'recorded-new' },
      harbor: { 'admin-password': 'recorded-two' },
    })
    expect(changed).toMatchObject({
      ok: false,
      message: 'grafana/admin-password changed; harbor/cloudflare-api-token missing',
    })
    expect(JSON.stringify(changed)).not.toMatch(/recorded-/)
    expect(openbaoValuesKept({}, {}).ok).toBe(false)
  })

  it('failed() keeps the failing verdicts', async () => {
    const verdicts = [kindClusterExists(['a'], 'a'), kindClusterExists([], 'b')]
    expect(failed(verdicts).map((v) => v.name)).toEqual(['kind cluster b'])
  })
})
