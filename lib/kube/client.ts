import { isDeepStrictEqual } from 'node:util'
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node'
// Not in the package's index: the serializer its KubernetesObjectApi uses (registerModel, one registry).
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { statusCode, unlessAbsent } from '../core/request-failure.ts'
import { retry } from '../core/retry.ts'

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
/**
 * Objects pass through client-node as the API server's JSON, byte for byte. Its typed models
 * rename fields (`ingress[].from` is `_from`, `x-kubernetes-preserve-unknown-fields` is camelCase)
 * and drop what they do not know when they serialize a plain object: a comparison with a chart's
 * render then sees fields missing, and a dry-run apply sends an object without them. Registering a
 * pass-through model for each kind the runbook touches (and its List) turns that off.
 */
const passThrough = { serialize: (data: unknown) => data, deserialize: (data: unknown) => data }
const registered = new Set<string>()
function asJson(apiVersion: string, kind: string): void {
  for (const k of [kind, `${kind}List`]) {
    const key = `${apiVersion}/${k}`
    if (registered.has(key)) continue
    registered.add(key)
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
    const gvk = { group: group as string, version: version as string, kind: k }
    try {
      ObjectSerializer.registerModel(gvk, passThrough)
    } catch {
      // Registered already (another client in this process): it passes JSON through the same way.
    }
  }
}

export function createKube(
  kc: KubeConfig,
  options: {
    onRetry?: (what: string, error: unknown) => void
    /** Who owns what this client applies (default FIELD_MANAGER). */
    fieldManager?: string
  } = {},
): Kube {
  const api = KubernetesObjectApi.makeApiClient(kc)
  const fieldManager = options.fieldManager ?? FIELD_MANAGER
  const requests = { reads: 0, writes: 0 }
  const withRetry = <T>(what: string, fn: () => Promise<T>) =>
    retry(fn, { onRetry: (error) => options.onRetry?.(what, error), deadlineMs: 90_000, attempts: 30 }).catch(
      (error: unknown) => {
        throw refusal(what, error)
      },
    )

  const get = async <T extends KObject>(ref: ObjectRef): Promise<T | undefined> =>
    withRetry(`read ${describeRef(ref)}`, async () => {
      asJson(ref.apiVersion, ref.kind)
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
        asJson(apiVersion, kind)
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
      asJson(ref.apiVersion, ref.kind)
      const applied = await withRetry(`apply ${describeRef(ref)}`, async () => {
        if (!dryRun) requests.writes++
        return (await api.patch(
          stripServerFields(object),
          undefined,
          dryRun ? 'All' : undefined,
          fieldManager,
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
          fieldManager,
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

/**
 * An answer of the API server that is not a success: the cluster's word, not a bug of the runbook.
 * It names the request and carries the server's own message and status (statusCode() reads it).
 */
export class ApiRefusal extends BootstrapError {
  readonly statusCode: number
  constructor(what: string, statusCode: number, message: string, cause: unknown) {
    super(`the API server refused to ${what} (HTTP ${statusCode}): ${message}`, {
      hint: refusalHint(statusCode, message),
      cause,
    })
    this.name = 'ApiRefusal'
    this.statusCode = statusCode
  }
}

function refusal(what: string, error: unknown): unknown {
  const status = statusCode(error)
  if (status === undefined || error instanceof BootstrapError) return error
  return new ApiRefusal(what, status, serverMessage(error), error)
}

/** The `message` of the Status the server answered with; client-node keeps the body as text. */
function serverMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body
  let parsed: unknown = body
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body)
    } catch {
      return body.split('\n')[0]?.slice(0, 300) ?? ''
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message
  return typeof message === 'string' ? message : (errorMessage(error).split('\n')[0] ?? '')
}

function refusalHint(status: number, message: string): string {
  if (/being terminated/.test(message))
    return 'the namespace is being deleted: wait until it is gone (`kubectl get namespace <name> -o yaml` shows what holds it), then run again'
  if (status === 401 || status === 403)
    return 'the account in the kubeconfig may not do this: `kubectl auth can-i --list` shows what it may; the README lists the permissions the runbook needs'
  if (status === 409)
    return 'another manager owns the field or the object changed meanwhile: run again; if it repeats, `kubectl get -o yaml --show-managed-fields` shows who owns what'
  if (status === 422) return 'the object is invalid for this cluster: the message names the field'
  return "this is the cluster's answer: read it, fix what it names, and run again"
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

/** A node counts when its kubelet (kind) or kwok reports the Ready condition True. */
export function isNodeReady(node: object): boolean {
  const { status } = node as { status?: { conditions?: { type?: string; status?: string }[] } }
  return (
    status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ??
    false
  )
}
