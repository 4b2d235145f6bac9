import type { ChildProcess } from 'node:child_process'
import { execa } from 'execa'
import { REFRESH_ANNOTATION } from '../../lib/argocd/status.ts'
import { lastLines } from '../../lib/core/errors.ts'
import { waitFor } from '../../lib/core/wait.ts'
import type { KObject, Kube } from '../../lib/kube/client.ts'
import { CONTROLLER_POD_SELECTOR } from '../../lib/providers/helm-argocd.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'
import { driftRepairedAfterControllerRestart, type Verdict } from '../assertions/assertions.ts'

/**
 * Crash-safety on a real kind cluster: Argo CD's application controller dies while an object it
 * manages is deleted, the kubelet restarts it, and the next create must bring the object back —
 * not take the statuses the dead controller wrote for converged. The controller is frozen first
 * (containerd's pause, inside the kind node), so it cannot see the deletion; then killed.
 */

/** What a crash check is given (kind-phase.ts): the cluster, the environment, a create whose output is masked. */
export interface CrashCheckDeps {
  kube: Kube
  env: EnvConfig
  create(): Promise<{ code: number; output: string }>
  say(line: string): void
  /** A process the check starts against the cluster: killed with the test run if that dies first. */
  track?(child: ChildProcess): void
}

const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hello', namespace: 'tenant-a' }
const CONTAINER = 'application-controller'

interface ContainerStatus {
  name: string
  containerID?: string
  restartCount?: number
  ready?: boolean
  state?: { running?: unknown }
}

const controllerStatus = (pod: KObject | undefined) =>
  ((pod?.status as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses ?? []).find(
    (status) => status.name === CONTAINER,
  )

export async function controllerCrashCheck(deps: CrashCheckDeps): Promise<Verdict> {
  const { kube, env } = deps
  const namespace = env.argocd.namespace
  const app = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: 'tenant-a', namespace }
  // Compared just now: the restarted controller will not compare it again on its own before its
  // reconciliation timeout, so only create's request can find the deletion.
  await kube.mergePatch(app, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'normal' } } })
  await waitFor(
    'Application tenant-a compared again',
    async () => !(await kube.get(app))?.metadata.annotations?.[REFRESH_ANNOTATION],
    { timeoutMs: 60_000, intervalMs: 500 },
  )
  if (!(await kube.get(DEPLOYMENT))) throw new Error('Deployment tenant-a/hello is missing before the check')
  const [pod] = await kube.list('v1', 'Pod', namespace, CONTROLLER_POD_SELECTOR)
  const before = controllerStatus(pod)
  const node = (pod?.spec as { nodeName?: string } | undefined)?.nodeName
  const id = before?.containerID?.replace(/^containerd:\/\//, '')
  if (!pod || !node || !id || !before?.state?.running)
    throw new Error(`no running ${CONTAINER} container in namespace ${namespace}`)
  const ctr = (...args: string[]) => execa('docker', ['exec', node, 'ctr', '-n', 'k8s.io', 'task', ...args])
  await ctr('pause', id)
  try {
    await kube.delete(DEPLOYMENT)
    deps.say(`controller crash: ${pod.metadata.name} frozen, Deployment tenant-a/hello deleted`)
  } finally {
    await ctr('kill', '--all', '--signal', 'SIGKILL', id)
    // cgroup v1's freezer holds even a SIGKILL until the task runs again; gone already on v2.
    await ctr('resume', id).catch(() => undefined)
  }
  await waitFor(
    `${pod.metadata.name} restarted by the kubelet`,
    async () => {
      const now = controllerStatus(
        await kube.get({ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace }),
      )
      return (now?.restartCount ?? 0) > (before.restartCount ?? 0) && !!now?.state?.running && !!now.ready
    },
    { timeoutMs: 180_000, intervalMs: 1_000 },
  )
  deps.say(`controller crash: ${pod.metadata.name} running again; create`)
  const created = await deps.create()
  if (created.code !== 0)
    return {
      name: 'create after the controller crashed',
      ok: false,
      message: `exited ${created.code}:\n${lastLines(created.output, 20)}`,
    }
  return driftRepairedAfterControllerRestart(created.output, await kube.get(DEPLOYMENT))
}
