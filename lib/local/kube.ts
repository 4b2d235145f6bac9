import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node'
import { BootstrapError, errorMessage } from '../errors.ts'
import { sleep } from './processes.ts'

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
 * Server-side apply (forced: this manager owns what it sets). Its own field manager, apart from
 * the runbook's: applying a Namespace the runbook labelled must not take the runbook's labels away.
 */
export async function applyObjects(
  apis: KubeApis,
  objects: KubernetesObject[],
  fieldManager = 'platform-bootstrap-local',
): Promise<void> {
  for (const object of objects) {
    await apis.objects.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply)
  }
}

/** The HTTP status of a client-node error, when it has one. */
export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code
  return typeof code === 'number' ? code : undefined
}

/** Polls `check` (errors count as "not yet") until it returns true; the last error is in the timeout message. */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      lastError = errorMessage(error).split('\n')[0] ?? ''
    }
    if (Date.now() > deadline) {
      throw new BootstrapError(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastError ? `: ${lastError}` : ''}`,
      )
    }
    await sleep(intervalMs)
  }
}
