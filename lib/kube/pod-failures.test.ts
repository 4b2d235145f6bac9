import { describe, expect, it } from 'vitest'
import type { KObject, Kube } from './client.ts'
import { describePodFailure, GRACE_MS, podFailureHint, podFailures, stuckFilter } from './pod-failures.ts'

function pod(name: string, containers: object[], init: object[] = []): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'argocd' },
    status: { containerStatuses: containers, initContainerStatuses: init },
  } as KObject
}

const waiting = (name: string, reason: string, restartCount = 0, message = '') => ({
  name,
  restartCount,
  state: { waiting: { reason, message } },
})

describe('podFailures', () => {
  it('finds the containers waiting will not bring up, init containers included', () => {
    const pods = [
      pod('argocd-server-1', [waiting('server', 'CrashLoopBackOff', 4)]),
      pod(
        'argocd-repo-server-1',
        [waiting('repo-server', 'PodInitializing')],
        [waiting('install-ksops', 'ImagePullBackOff', 0, 'Back-off pulling image "viaductoss/ksops:v4.5.1"')],
      ),
      pod('argocd-redis-1', [waiting('redis', 'ContainerCreating')]),
      pod('argocd-dex-1', [
        waiting('dex', 'CreateContainerConfigError', 0, 'secret "argocd-secret" not found'),
      ]),
      pod('argocd-ok', [{ name: 'ok', state: { running: {} } }]),
    ]
    expect(podFailures(pods).map((f) => `${f.pod}/${f.container}: ${f.reason}`)).toEqual([
      'argocd-server-1/server: CrashLoopBackOff',
      'argocd-repo-server-1/install-ksops: ImagePullBackOff',
      'argocd-dex-1/dex: CreateContainerConfigError',
    ])
  })

  it('describes a crashing container with its last log lines, from its previous run', async () => {
    const asked: unknown[] = []
    const kube = {
      podLog: async (ref: unknown, options: unknown) => {
        asked.push({ ref, options })
        return 'starting\nlevel=fatal msg="open /app/config/ssh/ssh_known_hosts: no such file"\n'
      },
    } as unknown as Kube
    const [failure] = podFailures([
      pod('argocd-server-1', [waiting('server', 'CrashLoopBackOff', 4, 'back-off 40s')]),
    ])
    if (!failure) throw new Error('no failure found')
    const text = await describePodFailure(kube, failure)
    expect(text).toBe(
      [
        'pod argocd/argocd-server-1, container server: CrashLoopBackOff (back-off 40s)',
        '  its last lines:',
        '    starting',
        '    level=fatal msg="open /app/config/ssh/ssh_known_hosts: no such file"',
      ].join('\n'),
    )
    expect(asked).toEqual([
      {
        ref: { namespace: 'argocd', pod: 'argocd-server-1', container: 'server' },
        options: { tailLines: 10, previous: true },
      },
    ])
    expect(podFailureHint(failure)).toBe(
      '`kubectl -n argocd logs argocd-server-1 -c server --previous` shows the whole log',
    )
  })

  it('an image that cannot be pulled: the hint names images.archives', () => {
    const [failure] = podFailures([pod('p', [waiting('c', 'ErrImagePull')])])
    if (!failure) throw new Error('no failure found')
    expect(podFailureHint(failure)).toMatch(/images\.archives/)
  })
})

describe('stuckFilter', () => {
  it('a crash or a pull that fails is stuck at once; a missing Secret only once it has lasted the grace', () => {
    let now = 0
    const stuck = stuckFilter(GRACE_MS, () => now)
    const missing = podFailures([
      pod('c-0', [
        waiting('application-controller', 'CreateContainerConfigError', 0, 'secret "argocd-redis" not found'),
      ]),
    ])
    expect(stuck(missing)).toBeUndefined()
    now = GRACE_MS - 1
    expect(stuck(missing)).toBeUndefined()
    now = GRACE_MS
    expect(stuck(missing)?.reason).toBe('CreateContainerConfigError')
    const crashing = podFailures([pod('s-1', [waiting('server', 'CrashLoopBackOff', 2)])])
    expect(stuckFilter(GRACE_MS, () => 0)(crashing)?.reason).toBe('CrashLoopBackOff')
  })
})
