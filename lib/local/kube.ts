import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node'
import { unlessAbsent } from '../core/request-failure.ts'
import type { WaitOptions } from '../core/wait.ts'
import { contains } from '../kube/apply.ts'

/** The few API calls the local stack makes itself, through @kubernetes/client-node 1.4.0. */

export interface KubeApis {
  kc: KubeConfig
  core: CoreV1Api
  objects: KubernetesObjectApi
}

export function kubeApis(kubeconfigFile: string): KubeApis {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigFile)
  return { kc, core: kc.makeApiClient(CoreV1Api), objects: KubernetesObjectApi.makeApiClient(kc) }
}

/**
 * Server-side apply (forced: this manager owns what it sets) of what is missing or differs; an
 * object already as wanted is only read, so a run with nothing to change writes nothing. Its own
 * field manager, apart from the runbook's: applying a Namespace the runbook labelled must not take
 * the runbook's labels away.
 */
export async function applyObjects(
  apis: KubeApis,
  objects: KubernetesObject[],
  fieldManager = 'platform-bootstrap-local',
): Promise<void> {
  for (const object of objects) {
    const current = await unlessAbsent(
      apis.objects.read(object as KubernetesObject & { metadata: { name: string } }),
    )
    if (current && contains(current, object)) continue
    await apis.objects.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply)
  }
}

/**
 * How the local stack waits on its own API server: every 250 ms, and every error of the check is
 * "not yet" (the server may not answer yet, what is awaited may not exist yet); the timeout
 * message names the last one.
 */
export const LOCAL_POLL = { intervalMs: 250, notYet: () => true } satisfies Partial<WaitOptions>
