import type { KObject, Kube } from './client.ts'

/**
 * Pods that waiting will not bring up: a container that keeps crashing, an image that cannot be
 * pulled, a configuration the kubelet cannot build. A wait on workloads stops at the first such
 * pod with its name, container, reason and last log lines, instead of running into its timeout.
 */

/** kubelet waiting reasons that do not pass by themselves. */
export const STUCK_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
])

/**
 * Reasons that can pass by themselves within seconds: a Secret or ConfigMap another component of
 * the same release makes at start (Argo CD's redis password, made by an init container). They
 * count as stuck only once they have lasted this long.
 */
const GRACE_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError'])
export const GRACE_MS = 30_000

/** Remembers when each failure was first seen; returns the first that is stuck for good. */
export function stuckFilter(graceMs = GRACE_MS, now: () => number = Date.now) {
  const firstSeen = new Map<string, number>()
  return (failures: PodFailure[]): PodFailure | undefined =>
    failures.find((failure) => {
      if (!GRACE_REASONS.has(failure.reason)) return true
      const key = `${failure.namespace}/${failure.pod}/${failure.container}/${failure.reason}`
      const first = firstSeen.get(key) ?? now()
      firstSeen.set(key, first)
      return now() - first >= graceMs
    })
}

export interface PodFailure {
  namespace: string
  pod: string
  container: string
  reason: string
  message: string
  restarts: number
}

interface ContainerStatus {
  name: string
  restartCount?: number
  state?: { waiting?: { reason?: string; message?: string } }
}

/** Every stuck container of these pods, init containers first. */
export function podFailures(pods: KObject[]): PodFailure[] {
  return pods.flatMap((pod) => {
    const status = pod.status as
      | { initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] }
      | undefined
    return [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])].flatMap(
      (container) => {
        const reason = container.state?.waiting?.reason
        if (!reason || !STUCK_REASONS.has(reason)) return []
        return [
          {
            namespace: pod.metadata.namespace ?? '',
            pod: pod.metadata.name,
            container: container.name,
            reason,
            message: container.state?.waiting?.message ?? '',
            restarts: container.restartCount ?? 0,
          },
        ]
      },
    )
  })
}

/** One failure in words a person can act on: what, why, the container's last lines, the command to see more. */
export async function describePodFailure(kube: Kube, failure: PodFailure, tailLines = 10): Promise<string> {
  const { namespace, pod, container, reason, message } = failure
  const lines = [
    `pod ${namespace}/${pod}, container ${container}: ${reason}${message ? ` (${oneLine(message)})` : ''}`,
  ]
  if (reason === 'CrashLoopBackOff' || reason === 'CreateContainerError') {
    const log = await kube
      .podLog({ namespace, pod, container }, { tailLines, previous: failure.restarts > 0 })
      .catch(() => '')
    if (log.trim())
      lines.push(
        `  its last lines:`,
        ...log
          .trimEnd()
          .split('\n')
          .slice(-tailLines)
          .map((line) => `    ${line}`),
      )
  }
  return lines.join('\n')
}

/** The fix line for a stuck pod, by reason. */
export function podFailureHint(failure: PodFailure): string {
  const kubectl = `kubectl -n ${failure.namespace}`
  if (
    failure.reason === 'ImagePullBackOff' ||
    failure.reason === 'ErrImagePull' ||
    failure.reason === 'InvalidImageName'
  )
    return `the node cannot get the image: is the registry reachable, or is the image in images.archives (loaded into kind's nodes)? \`${kubectl} describe pod ${failure.pod}\``
  if (failure.reason === 'CreateContainerConfigError')
    return `a Secret or ConfigMap the pod names is missing: \`${kubectl} describe pod ${failure.pod}\``
  return `\`${kubectl} logs ${failure.pod} -c ${failure.container} --previous\` shows the whole log`
}

function oneLine(text: string): string {
  const first = text.split('\n')[0] ?? ''
  return first.length > 200 ? `${first.slice(0, 197)}...` : first
}
