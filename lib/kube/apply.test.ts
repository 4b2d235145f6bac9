import { describe, expect, it } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError } from '../core/errors.ts'
import { Redactor } from '../core/redact.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { applyAll, applyObjects, contains } from './apply.ts'
import type { ApplyOutcome, KObject, Kube, ObjectRef } from './client.ts'
import { refOf } from './client.ts'
import { namespace, opaqueSecret } from './manifests.ts'

/**
 * An in-memory API server: server-side apply merges the applied fields over what is stored,
 * adds the fields a server adds (uid, creationTimestamp, status), and bumps resourceVersion
 * only when something changed.
 */
class FakeKube implements Kube {
  readonly requests = { reads: 0, writes: 0 }
  async podLog(): Promise<string> {
    return ''
  }
  readonly applied: {
    object: KObject
    options?: { dryRun?: boolean; force?: boolean; before?: KObject | null }
  }[] = []
  private readonly store = new Map<string, KObject>()
  private version = 100

  private key(ref: ObjectRef): string {
    return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`
  }

  async get<T extends KObject = KObject>(ref: ObjectRef): Promise<T | undefined> {
    this.requests.reads++
    const found = this.store.get(this.key(ref))
    return found && (structuredClone(found) as T)
  }

  async list<T extends KObject = KObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
  ): Promise<T[]> {
    this.requests.reads++
    // As the API server lists them: items without apiVersion and kind.
    return [...this.store.values()]
      .filter((o) => o.apiVersion === apiVersion && o.kind === kind)
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map(({ apiVersion: _a, kind: _k, ...o }) => structuredClone(o) as T)
  }

  async apply(
    object: KObject,
    options?: { dryRun?: boolean; force?: boolean; before?: KObject | null },
  ): Promise<ApplyOutcome> {
    this.applied.push({ object: structuredClone(object), options })
    // The real one reads the object first unless the caller says how it is.
    if (options?.before === undefined) this.requests.reads++
    const ref = refOf(object)
    const before = this.store.get(this.key(ref))
    const merged = merge(before ?? serverDefaults(object), object) as KObject
    let result: ApplyOutcome['result']
    if (!before) result = 'created'
    else result = JSON.stringify(merged) === JSON.stringify(before) ? 'unchanged' : 'configured'
    if (result !== 'unchanged') merged.metadata.resourceVersion = String(++this.version)
    if (!options?.dryRun) {
      this.requests.writes++
      this.store.set(this.key(ref), merged)
    }
    return { ref, result, object: structuredClone(merged) }
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    this.requests.writes++
    return this.store.delete(this.key(ref))
  }

  async mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<void> {
    const annotations =
      (patch.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {}
    this.requests.writes++
    const object = this.store.get(this.key(ref))
    if (object)
      object.metadata = {
        ...object.metadata,
        annotations: { ...object.metadata.annotations, ...annotations },
      }
  }

  stored(ref: ObjectRef): KObject | undefined {
    return this.store.get(this.key(ref))
  }
}

function serverDefaults(object: KObject): KObject {
  const base: Record<string, unknown> = {
    metadata: { uid: `uid-${object.metadata.name}`, creationTimestamp: '2026-01-01T00:00:00Z' },
  }
  if (object.kind === 'Namespace') {
    base.spec = { finalizers: ['kubernetes'] }
    base.status = { phase: 'Active' }
  }
  return base as KObject
}

function merge(into: unknown, from: unknown): unknown {
  if (from === null || typeof from !== 'object' || Array.isArray(from)) return structuredClone(from)
  const out: Record<string, unknown> =
    into && typeof into === 'object' && !Array.isArray(into)
      ? structuredClone(into as Record<string, unknown>)
      : {}
  for (const [key, value] of Object.entries(from)) out[key] = merge(out[key], value)
  return out
}

function context(kube: Kube, dryRun = false) {
  const sink = memorySink()
  const ctx = {
    flags: { dryRun, force: false, rotate: [] },
    log: new Logger({ sink, redactor: new Redactor() }),
    kube: async () => kube,
  } as unknown as Context
  return { ctx, lines: sink.lines }
}

const objects = () => [
  namespace('openbao'),
  opaqueSecret('openbao-unseal-key', 'openbao', { key: 'unseal-1' }, { annotations: { a: 'b' } }),
]

describe('applyAll', () => {
  it('creates what is missing and says so per object', async () => {
    const kube = new FakeKube()
    const { ctx, lines } = context(kube)
    expect(await applyAll(ctx, objects())).toEqual(['created', 'created'])
    expect(kube.applied).toHaveLength(2)
    expect(kube.applied.every((call) => call.options?.dryRun === false)).toBe(true)
    expect(lines).toEqual([
      '    Namespace/openbao: created',
      '    Secret/openbao/openbao-unseal-key: created',
    ])
  })

  it('makes no apply call at all when every object is already there', async () => {
    const kube = new FakeKube()
    await applyAll(context(kube).ctx, objects())
    const writes = kube.requests.writes
    const calls = kube.applied.length
    // The stored objects carry server fields (uid, status, resourceVersion) the desired ones do not.
    expect(kube.stored(refOf(namespace('openbao')))?.status).toEqual({ phase: 'Active' })

    const { ctx, lines } = context(kube)
    expect(await applyAll(ctx, objects())).toEqual(['unchanged', 'unchanged'])
    expect(kube.applied).toHaveLength(calls)
    expect(kube.requests.writes).toBe(writes)
    expect(lines).toEqual([
      '    Namespace/openbao: unchanged',
      '    Secret/openbao/openbao-unseal-key: unchanged',
    ])
  })

  it('applies only the object that changed', async () => {
    const kube = new FakeKube()
    await applyAll(context(kube).ctx, objects())
    const secretRef = refOf(objects()[1] as KObject)
    const versionBefore = kube.stored(secretRef)?.metadata.resourceVersion
    const calls = kube.applied.length

    const changed = [
      namespace('openbao'),
      opaqueSecret('openbao-unseal-key', 'openbao', { key: 'unseal-2' }, { annotations: { a: 'b' } }),
    ]
    const { ctx, lines } = context(kube)
    expect(await applyAll(ctx, changed)).toEqual(['unchanged', 'configured'])
    expect(kube.applied.slice(calls).map((call) => call.object)).toEqual([changed[1]])
    const stored = kube.stored(secretRef)
    expect((stored?.data as Record<string, string> | undefined)?.key).toBe(
      Buffer.from('unseal-2').toString('base64'),
    )
    expect(stored?.metadata.resourceVersion).not.toBe(versionBefore)
    expect(lines[1]).toBe('    Secret/openbao/openbao-unseal-key: configured')
  })

  it('in a dry run asks the server with dryRun: true, changes nothing and says "would be"', async () => {
    const kube = new FakeKube()
    await applyAll(context(kube).ctx, [namespace('openbao')])
    const calls = kube.applied.length

    const { ctx, lines } = context(kube, true)
    const results = await applyAll(ctx, [
      namespace('openbao'),
      opaqueSecret('openbao-unseal-key', 'openbao', { key: 'unseal-1' }),
    ])
    expect(results).toEqual(['unchanged', 'created'])
    expect(kube.applied.slice(calls)).toEqual([
      { object: expect.objectContaining({ kind: 'Secret' }), options: { dryRun: true, before: null } },
    ])
    expect(
      kube.stored({ apiVersion: 'v1', kind: 'Secret', name: 'openbao-unseal-key', namespace: 'openbao' }),
    ).toBe(undefined)
    expect(lines).toEqual([
      '    Namespace/openbao: unchanged',
      '    Secret/openbao/openbao-unseal-key: would be created',
    ])
  })
})

describe('applyObjects (the local stack applies through it with its own client, forced)', () => {
  it('passes force on, records changes only when asked, and applies nothing already there', async () => {
    const kube = new FakeKube()
    const changed = new Set<string>()
    expect(await applyObjects(kube, objects(), { force: true, changed })).toEqual(['created', 'created'])
    expect(kube.applied.map((call) => call.options?.force)).toEqual([true, true])
    expect([...changed]).toEqual(['Namespace/openbao', 'Secret/openbao/openbao-unseal-key'])
    expect(await applyObjects(kube, objects(), { force: true })).toEqual(['unchanged', 'unchanged'])
    expect(kube.applied).toHaveLength(2)
  })
})

describe('applyAll: an object being deleted', () => {
  it('is not "unchanged": the run stops at once, naming it, since when, what holds it, and writes nothing', async () => {
    const kube = new FakeKube()
    const { ctx } = context(kube)
    await applyAll(ctx, objects())
    const ns = kube.stored({ apiVersion: 'v1', kind: 'Namespace', name: 'openbao' }) as KObject
    ns.metadata = {
      ...ns.metadata,
      deletionTimestamp: '2026-12-05T10:00:00Z',
    } as unknown as KObject['metadata']
    const writes = kube.requests.writes
    const error = await applyAll(ctx, objects()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toBe(
      'Namespace/openbao is being deleted (since 2026-12-05T10:00:00Z; held by kubernetes): it cannot be applied until it is gone',
    )
    expect((error as BootstrapError).hint).toContain(
      '`kubectl get namespace openbao -o yaml` shows what holds it',
    )
    expect(kube.requests.writes).toBe(writes)
  })
})

describe('applyAll: requests', () => {
  const secrets = () =>
    ['a', 'b', 'c'].map((name) => opaqueSecret(`repo-${name}`, 'argocd', { url: `file:///repos/${name}` }))

  it('reads objects of one kind and namespace with one list, a lone one with a get, and never again to apply', async () => {
    const kube = new FakeKube()
    const { ctx } = context(kube)
    expect(await applyAll(ctx, [...secrets(), namespace('argocd')])).toEqual([
      'created',
      'created',
      'created',
      'created',
    ])
    expect(kube.requests).toEqual({ reads: 2, writes: 4 })

    const again = new FakeKube()
    await applyAll(context(again).ctx, [...secrets(), namespace('argocd')])
    again.requests.reads = 0
    again.requests.writes = 0
    expect(await applyAll(context(again).ctx, [...secrets(), namespace('argocd')])).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ])
    expect(again.requests).toEqual({ reads: 2, writes: 0 })
  })

  it('applies Namespaces before what may live in them, and reports in the order given', async () => {
    const kube = new FakeKube()
    const { ctx, lines } = context(kube)
    await applyAll(ctx, [...secrets(), namespace('argocd')])
    expect(kube.applied[0]?.object.kind).toBe('Namespace')
    expect(lines).toEqual([
      '    Secret/argocd/repo-a: created',
      '    Secret/argocd/repo-b: created',
      '    Secret/argocd/repo-c: created',
      '    Namespace/argocd: created',
    ])
  })
})

describe('contains', () => {
  it('holds when every desired field is in the actual object, extra fields allowed', () => {
    const actual = {
      metadata: { name: 'a', uid: 'u', labels: { x: '1', y: '2' } },
      status: { phase: 'Active' },
    }
    expect(contains(actual, { metadata: { name: 'a', labels: { x: '1' } } })).toBe(true)
    expect(contains(actual, {})).toBe(true)
    expect(contains(actual, { metadata: { labels: { x: '2' } } })).toBe(false)
    expect(contains(actual, { metadata: { labels: { z: '1' } } })).toBe(false)
    expect(contains(actual, { spec: { finalizers: [] } })).toBe(false)
  })

  it('compares arrays by position and length, elements as subsets', () => {
    expect(contains([1, 2], [1, 2])).toBe(true)
    expect(contains([2, 1], [1, 2])).toBe(false)
    expect(contains([1, 2, 3], [1, 2])).toBe(false)
    expect(contains([1], [1, 2])).toBe(false)
    expect(contains([{ name: 'a', value: '1' }], [{ name: 'a' }])).toBe(true)
    expect(contains([{ name: 'a' }], [{ name: 'a', value: '1' }])).toBe(false)
    expect(contains({ 0: 1, 1: 2 }, [1, 2])).toBe(false)
    expect(contains([], {})).toBe(false)
  })

  it('compares scalars strictly', () => {
    expect(contains('1', '1')).toBe(true)
    expect(contains(1, '1')).toBe(false)
    expect(contains(true, 'true')).toBe(false)
    expect(contains(null, null)).toBe(true)
    expect(contains(undefined, null)).toBe(false)
    expect(contains(undefined, 'x')).toBe(false)
    expect(contains({ a: 1 }, 'x')).toBe(false)
    expect(contains(null, { a: 1 })).toBe(false)
    expect(contains('abc', { length: 3 })).toBe(false)
  })
})
