import { isDeepStrictEqual } from 'node:util'
import { BootstrapError } from '../core/errors.ts'
import type { Context } from '../runner/context.ts'
import { type ApplyResult, describeRef, type KObject, type Kube, refOf } from './client.ts'

/** How applyObjects applies, and where it says what it did. */
export interface ApplyObjectsOptions {
  /** Ask the server what would change, and change nothing. */
  dryRun?: boolean
  /** Take over fields another manager set (for a manager that owns all it sets). */
  force?: boolean
  /** One line per object: what happened to it. */
  log?: (line: string) => void
  /** Gets each object created or changed (not on a dry run). */
  changed?: Set<string>
}

/**
 * The one applier: applies objects and says, per object, what happened. An object whose
 * fields are already all in the cluster is not sent at all, so a re-run makes no writes;
 * `dryRun` asks the server what would change and changes nothing.
 *
 * Each object is read once: objects of one kind in one namespace with one list, a lone one with
 * a get, all at the same time. Then only what differs is applied, concurrently, except that
 * Namespaces go first (everything else may live in one). An absent object costs its write, a
 * present one its share of a read.
 */
export async function applyObjects(
  kube: Kube,
  objects: KObject[],
  options: ApplyObjectsOptions = {},
): Promise<ApplyResult[]> {
  const { dryRun = false, force } = options
  const existing = await readAll(kube, objects)
  refuseTerminating(objects, existing)
  const results: ApplyResult[] = new Array(objects.length)
  const applyAt = async (i: number) => {
    const object = objects[i] as KObject
    const before = existing[i]
    results[i] =
      before && contains(before, object)
        ? 'unchanged'
        : (await kube.apply(object, { dryRun, ...(force ? { force } : {}), before: before ?? null })).result
  }
  const indexes = objects.map((_, i) => i)
  const first = indexes.filter((i) => isContainer(objects[i] as KObject))
  await Promise.all(first.map(applyAt))
  await Promise.all(indexes.filter((i) => !first.includes(i)).map(applyAt))
  objects.forEach((object, i) => {
    const result = results[i] as ApplyResult
    if (result !== 'unchanged' && !dryRun) options.changed?.add(describeRef(refOf(object)))
    const verb = dryRun && result !== 'unchanged' ? `would be ${result}` : result
    options.log?.(`${describeRef(refOf(object))}: ${verb}`)
  })
  return results
}

/** The objects a step owns, applied with the run's client, flags, log and record of changes. */
export async function applyAll(ctx: Context, objects: KObject[]): Promise<ApplyResult[]> {
  return applyObjects(await ctx.kube(), objects, {
    dryRun: ctx.flags.dryRun,
    log: (line) => ctx.log.detail(line),
    changed: ctx.changed,
  })
}

/**
 * An object with a deletionTimestamp is going away, not in place: applying to it would report it
 * unchanged, or be refused (nothing can be created in a namespace being deleted). Said at once,
 * naming each, since when, and what holds it.
 */
function refuseTerminating(objects: KObject[], existing: (KObject | undefined)[]): void {
  const going = objects.flatMap((object, i) => {
    const found = existing[i]
    const since = (found?.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp
    if (!found || !since) return []
    const finalizers = [
      ...((found.metadata as { finalizers?: string[] }).finalizers ?? []),
      ...((found.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []),
    ]
    return [
      `${describeRef(refOf(object))} is being deleted (since ${since}${finalizers.length ? `; held by ${finalizers.join(', ')}` : ''})`,
    ]
  })
  if (going.length === 0) return
  const first = objects.find(
    (_, i) => (existing[i]?.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp,
  )
  const ref = first ? refOf(first) : undefined
  throw new BootstrapError(`${going.join('; ')}: it cannot be applied until it is gone`, {
    hint: ref
      ? `wait until it is gone, then run again; \`kubectl get ${ref.kind.toLowerCase()} ${ref.name}${ref.namespace ? ` -n ${ref.namespace}` : ''} -o yaml\` shows what holds it (a namespace's status.conditions name what is left in it; a finalizer whose controller was removed never clears by itself)`
      : undefined,
  })
}

/** What other objects may be created in: it has to exist first. */
function isContainer(object: KObject): boolean {
  return (
    (object.kind === 'Namespace' && object.apiVersion === 'v1') || object.kind === 'CustomResourceDefinition'
  )
}

/** Every object as the cluster has it now (undefined: absent), with one request per kind and namespace. */
async function readAll(kube: Kube, objects: KObject[]): Promise<(KObject | undefined)[]> {
  const groups = new Map<string, number[]>()
  objects.forEach((object, i) => {
    const key = JSON.stringify([object.apiVersion, object.kind, object.metadata.namespace ?? ''])
    groups.set(key, [...(groups.get(key) ?? []), i])
  })
  const existing: (KObject | undefined)[] = new Array(objects.length)
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const first = objects[indexes[0] as number] as KObject
      if (indexes.length === 1) {
        existing[indexes[0] as number] = await kube.get(refOf(first))
        return
      }
      const { apiVersion = '', kind = '' } = first
      const items = await kube.list(apiVersion, kind, first.metadata.namespace)
      // List items come without apiVersion and kind; the objects they are compared with have them.
      const byName = new Map(items.map((item) => [item.metadata.name, { ...item, apiVersion, kind }]))
      for (const i of indexes) existing[i] = byName.get((objects[i] as KObject).metadata.name)
    }),
  )
  return existing
}

/** Whether every field `desired` sets already has that value in `actual`. */
export function contains(actual: unknown, desired: unknown): boolean {
  if (desired === null || typeof desired !== 'object') return isDeepStrictEqual(actual, desired)
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      actual.length === desired.length &&
      desired.every((item, i) => contains(actual[i], item))
    )
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false
  return Object.entries(desired).every(([key, value]) =>
    contains((actual as Record<string, unknown>)[key], value),
  )
}
