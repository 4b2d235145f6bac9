import { isDeepStrictEqual } from 'node:util'
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node'
import { BootstrapError, errorMessage } from './errors.ts'
import { retry, statusCode, unlessAbsent } from './retry.ts'
import { waitFor } from './wait.ts'

/** The field manager every apply of the runbook uses, so ownership is one name in managedFields. */
export const FIELD_MANAGER = 'platform-bootstrap'

export type ApplyResult = 'created' | 'configured' | 'unchanged'
export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}
export type KObject = KubernetesObject & { metadata: { name: string; namespace?: string } } & Record<
    string,
    unknown
  >

export interface ApplyOutcome {
  ref: ObjectRef
  result: ApplyResult
  object: KObject
}

/** What the steps need from the Kubernetes API; a fake in unit tests, client-node for real. */
export interface Kube {
  /**
   * `before` is the object as it is now when the caller has just read it (`null`: absent), so the
   * apply does not read it again; left out, it is read first.
   */
  apply(
    object: KObject,
    options?: { dryRun?: boolean; force?: boolean; before?: KObject | null },
  ): Promise<ApplyOutcome>
  get<T extends KObject = KObject>(ref: ObjectRef): Promise<T | undefined>
  list<T extends KObject = KObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]>
  delete(ref: ObjectRef): Promise<boolean>
  /**
   * A JSON merge patch, owned by no field manager: for requests a controller acts on and then
   * clears (Argo CD's refresh annotation, an operation's termination), which an apply would claim.
   */
  mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<void>
  /** The last lines a container printed (`previous`: its last run, for one that keeps restarting). */
  podLog(
    ref: { namespace: string; pod: string; container: string },
    options: { tailLines: number; previous?: boolean },
  ): Promise<string>
  /** Counts of API requests made, for benchmarks. */
  readonly requests: { reads: number; writes: number }
}

export function refOf(object: KObject): ObjectRef {
  return {
    apiVersion: object.apiVersion ?? '',
    kind: object.kind ?? '',
    name: object.metadata.name,
    namespace: object.metadata.namespace,
  }
}

export function describeRef(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`
}

/**
 * Where the runbook reaches the cluster: a kubeconfig file and the context in it. Each provider
 * says its own (ClusterProvider.access); it lives here, beside loadKubeConfig that reads it,
 * because the providers take the context, and in one of them it would close an import circle.
 */
export interface ClusterAccess {
  kubeconfig: string
  context?: string
}

export function loadKubeConfig(kubeconfigPath: string, context?: string): KubeConfig {
  const kc = new KubeConfig()
  try {
    kc.loadFromFile(kubeconfigPath)
  } catch (error) {
    throw new BootstrapError(`cannot read kubeconfig ${kubeconfigPath}: ${errorMessage(error)}`, {
      hint: 'run `just step 00` to create or adopt the cluster first',
    })
  }
  if (context) kc.setCurrentContext(context)
  return kc
}

/**
 * Server-side apply with one field manager. Every object is read first so the result can
 * say created / configured / unchanged: a no-op apply does not move resourceVersion.
 * Transient failures (connection refused while an apiserver restarts, 429, 5xx) are retried.
 */
export function createKube(
  kc: KubeConfig,
  options: { onRetry?: (what: string, error: unknown) => void } = {},
): Kube {
  const api = KubernetesObjectApi.makeApiClient(kc)
  const requests = { reads: 0, writes: 0 }
  const withRetry = <T>(what: string, fn: () => Promise<T>) =>
    retry(fn, { onRetry: (error) => options.onRetry?.(what, error), deadlineMs: 90_000, attempts: 30 })

  const get = async <T extends KObject>(ref: ObjectRef): Promise<T | undefined> =>
    withRetry(`read ${describeRef(ref)}`, async () => {
      requests.reads++
      return (await unlessAbsent(api.read(header(ref)))) as T | undefined
    })

  return {
    requests,
    get,
    async list<T extends KObject>(
      apiVersion: string,
      kind: string,
      namespace?: string,
      labelSelector?: string,
    ) {
      return withRetry(`list ${kind}`, async () => {
        requests.reads++
        const result = await api.list(
          apiVersion,
          kind,
          namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
        )
        return result.items as T[]
      })
    },
    async apply(object, { dryRun = false, force = false, before: known } = {}) {
      const ref = refOf(object)
      const before = known === undefined ? await get(ref) : (known ?? undefined)
      const applied = await withRetry(`apply ${describeRef(ref)}`, async () => {
        if (!dryRun) requests.writes++
        return (await api.patch(
          stripServerFields(object),
          undefined,
          dryRun ? 'All' : undefined,
          FIELD_MANAGER,
          force,
          PatchStrategy.ServerSideApply,
        )) as KObject
      })
      return { ref, object: applied, result: applyResult(before, applied, dryRun) }
    },
    async mergePatch(ref, patch) {
      await withRetry(`patch ${describeRef(ref)}`, async () => {
        requests.writes++
        await api.patch(
          { ...patch, ...header(ref), metadata: { ...(patch.metadata as object), ...header(ref).metadata } },
          undefined,
          undefined,
          FIELD_MANAGER,
          undefined,
          PatchStrategy.MergePatch,
        )
      })
    },
    async podLog({ namespace, pod, container }, { tailLines, previous = false }) {
      requests.reads++
      return String(
        await kc
          .makeApiClient(CoreV1Api)
          .readNamespacedPodLog({ namespace, name: pod, container, tailLines, previous }),
      )
    },
    async delete(ref) {
      return withRetry(`delete ${describeRef(ref)}`, async () => {
        requests.writes++
        try {
          await api.delete(header(ref))
          return true
        } catch (error) {
          if (statusCode(error) === 404) return false
          throw error
        }
      })
    },
  }
}

function applyResult(before: KObject | undefined, after: KObject, dryRun: boolean): ApplyResult {
  if (!before) return 'created'
  if (!dryRun)
    return before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured'
  return isDeepStrictEqual(comparable(before), comparable(after)) ? 'unchanged' : 'configured'
}

/** An object without the fields the server writes on every change, to compare a dry run with what is there. */
function comparable(object: KObject): unknown {
  const {
    managedFields: _m,
    resourceVersion: _r,
    generation: _g,
    ...metadata
  } = object.metadata as unknown as Record<string, unknown>
  return { ...object, metadata }
}

function stripServerFields(object: KObject): KObject {
  const {
    resourceVersion: _r,
    managedFields: _m,
    uid: _u,
    creationTimestamp: _c,
    ...metadata
  } = object.metadata as unknown as Record<string, unknown>
  return { ...object, metadata } as unknown as KObject
}

function header(ref: ObjectRef) {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace },
  }
}

/** Waits until `ref` exists and `ready` holds for it. The timeout error names the object and the wait. */
export async function waitForObject<T extends KObject>(
  kube: Kube,
  ref: ObjectRef,
  what: string,
  ready: (object: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  return waitFor(
    `${describeRef(ref)} to be ${what}`,
    async () => {
      const object = await kube.get<T>(ref)
      return object && ready(object) ? object : undefined
    },
    {
      timeoutMs,
      hint: `its status and events say why: \`kubectl${ref.namespace ? ` -n ${ref.namespace}` : ''} describe ${ref.kind.toLowerCase()} ${ref.name}\``,
    },
  )
}

/** A node counts when its kubelet (kind) or kwok reports the Ready condition True. */
export function isNodeReady(node: object): boolean {
  const { status } = node as { status?: { conditions?: { type?: string; status?: string }[] } }
  return (
    status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ??
    false
  )
}
