import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node'
import type { WaitOptions } from '../core/wait.ts'
import { createKube, type KObject, type Kube } from '../kube/client.ts'

/** The few API calls the local stack makes itself, through @kubernetes/client-node 1.4.0. */

export interface KubeApis {
  kc: KubeConfig
  core: CoreV1Api
  objects: KubernetesObjectApi
  /** Custom resources and their discovery (`/apis/<group>/<version>`). */
  custom: CustomObjectsApi
  /**
   * What the stack applies goes through lib/kube/apply.ts applyObjects with this client, forced:
   * under its own field manager, apart from the runbook's, so applying a Namespace the runbook
   * labelled does not take the runbook's labels away.
   */
  kube: Kube
}

/**
 * The data of ConfigMap or Secret `namespace/name` (a Secret's values base64, as the API gives
 * them), or undefined when it does not exist; read through the retrying client, so a restarted API
 * server is waited out.
 */
export async function dataOf(
  kube: Kube,
  kind: 'ConfigMap' | 'Secret',
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const found = await kube.get<KObject & { data?: Record<string, string> }>({
    apiVersion: 'v1',
    kind,
    name,
    namespace,
  })
  return found ? (found.data ?? {}) : undefined
}

export const LOCAL_FIELD_MANAGER = 'platform-bootstrap-local'

export function kubeApis(kubeconfigFile: string): KubeApis {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigFile)
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
    custom: kc.makeApiClient(CustomObjectsApi),
    kube: createKube(kc, { fieldManager: LOCAL_FIELD_MANAGER }),
  }
}

/**
 * How the local stack waits on its own API server: every 250 ms, and every error of the check is
 * "not yet" (the server may not answer yet, what is awaited may not exist yet); the timeout
 * message names the last one.
 */
export const LOCAL_POLL = { intervalMs: 250, notYet: () => true } satisfies Partial<WaitOptions>
