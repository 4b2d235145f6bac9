import { generateIdentity } from '../../../lib/bootstrap-secrets/age.ts'
import type { ApplyOutcome, KObject, Kube, ObjectRef } from '../../../lib/kube/client.ts'
import { loadConfig } from '../../../lib/runner/config.ts'

/**
 * What the tests of the kind e2e's verdicts share: an in-memory Kube (what the API server would
 * store: stringData folded into data, uids, resourceVersions kept by a no-op apply) and objects as
 * a cluster returns them, trimmed to the fields that matter.
 */

// ---------------------------------------------------------------------------------------------
// An in-memory Kube: what the API server would store (stringData folded into data, uids).

export const clone = <T>(value: T): T => structuredClone(value)
const keyOf = (apiVersion: string, kind: string, namespace: string | undefined, name: string) =>
  `${apiVersion}|${kind}|${namespace ?? ''}|${name}`

export class FakeKube implements Kube {
  readonly requests = { reads: 0, writes: 0 }
  async podLog(): Promise<string> {
    return ''
  }
  private readonly store = new Map<string, KObject>()
  private serial = 0
  onApply: (object: KObject) => KObject = (object) => object
  onDelete: (object: KObject) => void = () => {}

  constructor(objects: KObject[] = []) {
    for (const object of objects) this.put(object)
  }

  put(input: KObject): KObject {
    const object = clone(input)
    const stringData = object.stringData as Record<string, string> | undefined
    if (stringData) {
      object.data = { ...((object.data as Record<string, string>) ?? {}) }
      for (const [key, value] of Object.entries(stringData))
        (object.data as Record<string, string>)[key] = Buffer.from(value).toString('base64')
      delete object.stringData
    }
    const key = keyOf(
      object.apiVersion ?? '',
      object.kind ?? '',
      object.metadata.namespace,
      object.metadata.name,
    )
    // As an API server does: an apply that changes nothing keeps the resourceVersion.
    const stored = this.store.get(key)
    const bare = (o: KObject) =>
      JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: '', uid: '' } })
    if (
      stored &&
      bare(stored) === bare({ ...object, metadata: { ...object.metadata, uid: stored.metadata.uid } })
    )
      return clone(stored)
    this.serial++
    object.metadata.uid ??= `uid-${this.serial}`
    object.metadata.resourceVersion = String(this.serial)
    this.store.set(key, object)
    return clone(object)
  }

  clear(): void {
    this.store.clear()
  }

  all(kind: string): KObject[] {
    return [...this.store.values()].filter((o) => o.kind === kind).map(clone)
  }

  async get<T extends KObject = KObject>(ref: ObjectRef): Promise<T | undefined> {
    this.requests.reads++
    const found = this.store.get(keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name))
    return found ? (clone(found) as T) : undefined
  }

  async list<T extends KObject = KObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]> {
    this.requests.reads++
    const wanted = (labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((term) => term.split('='))
    return [...this.store.values()]
      .filter(
        (o) =>
          o.apiVersion === apiVersion &&
          o.kind === kind &&
          (!namespace || o.metadata.namespace === namespace),
      )
      .filter((o) =>
        wanted.every(
          ([key, value]) =>
            (o.metadata as { labels?: Record<string, string> }).labels?.[key as string] === value,
        ),
      )
      .map((o) => clone(o) as T)
  }

  async apply(object: KObject): Promise<ApplyOutcome> {
    this.requests.writes++
    const ref = {
      apiVersion: object.apiVersion ?? '',
      kind: object.kind ?? '',
      name: object.metadata.name,
      namespace: object.metadata.namespace,
    }
    const before = this.store.get(keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name))
    const stored = this.put(this.onApply(clone(object)))
    return { ref, object: stored, result: before ? 'configured' : 'created' }
  }

  async mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<void> {
    const annotations =
      (patch.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {}
    const object = await this.get(ref)
    if (object)
      this.put({
        ...object,
        metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, ...annotations } },
      })
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    this.requests.writes++
    const key = keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name)
    const found = this.store.get(key)
    if (!found) return false
    this.store.delete(key)
    this.onDelete(clone(found))
    return true
  }
}

// ---------------------------------------------------------------------------------------------
// Recorded objects (trimmed to the fields that matter).

export const ARGO = 'argoproj.io/v1alpha1'
export const env = loadConfig('dev')

export function application(
  name: string,
  status: Record<string, unknown>,
  spec: Record<string, unknown> = {},
): KObject {
  return {
    apiVersion: ARGO,
    kind: 'Application',
    metadata: { name, namespace: 'argocd' },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc' }, ...spec },
    status,
  }
}

export const SYNCED = {
  sync: { status: 'Synced', revision: '3f1c2a9' },
  health: { status: 'Healthy' },
  operationState: { phase: 'Succeeded', message: 'successfully synced (all tasks run)' },
}
export const DEGRADED = {
  sync: { status: 'Synced', revision: '3f1c2a9' },
  health: { status: 'Degraded', message: 'Deployment "grafana" exceeded its progress deadline' },
  resources: [
    {
      kind: 'Deployment',
      namespace: 'monitoring',
      name: 'grafana',
      status: 'Synced',
      health: { status: 'Degraded', message: 'Deployment "grafana" exceeded its progress deadline' },
    },
    { kind: 'ServiceAccount', namespace: 'monitoring', name: 'grafana', status: 'Synced' },
  ],
}
export const DESTINATION_REFUSED =
  "application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-a'"
export const REPO_REFUSED =
  "application repo https://github.com/someone-else/anything.git is not permitted in project 'default'"
export const refusedStatus = (message: string) => ({
  sync: { status: 'Unknown' },
  health: { status: 'Unknown' },
  conditions: [{ type: 'InvalidSpecError', message, lastTransitionTime: '2026-01-01T00:00:00Z' }],
})

export function node(name: string, ready: boolean): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'KubeletReady' : 'KubeletNotReady',
        },
      ],
    },
  }
}

export function pod(
  namespace: string,
  name: string,
  status: Record<string, unknown>,
  labels: Record<string, string> = {},
  uid?: string,
): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, ...(uid ? { uid } : {}) },
    status,
  }
}

export const runningReady = (container: string) => ({
  phase: 'Running',
  containerStatuses: [
    {
      name: container,
      ready: true,
      restartCount: 0,
      state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
    },
  ],
})

/** A cluster age key made for this run: no key material lives in the repository. */
export const AGE_KEY = (await generateIdentity()).identity
export const BOOTSTRAP = {
  age_cluster_private_key: AGE_KEY,
  github_token_platform: 'recorded-platform-token',
  github_token_tenant: 'recorded-tenant-token',
  openbao_unseal_key: 'cmVjb3JkZWQtdW5zZWFsLWtleS0zMi1ieXRlcy4uLi4=',
  cloudflare_api_token: 'recorded-cloudflare-token',
}

// ---------------------------------------------------------------------------------------------
