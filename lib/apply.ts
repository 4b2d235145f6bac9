import { isDeepStrictEqual } from 'node:util'
import type { Context } from './context.ts'
import { type ApplyResult, describeRef, type KObject, refOf } from './kube.ts'

/**
 * Applies the objects a step owns and says, per object, what happened. An object whose
 * fields are already all in the cluster is not sent at all, so a re-run makes no writes;
 * `--dry-run` asks the server what would change and changes nothing.
 */
export async function applyAll(ctx: Context, objects: KObject[]): Promise<ApplyResult[]> {
  const kube = await ctx.kube()
  const results: ApplyResult[] = []
  for (const object of objects) {
    const existing = await kube.get(refOf(object))
    let result: ApplyResult
    if (existing && contains(existing, object)) result = 'unchanged'
    else result = (await kube.apply(object, { dryRun: ctx.flags.dryRun })).result
    results.push(result)
    const verb = ctx.flags.dryRun && result !== 'unchanged' ? `would be ${result}` : result
    ctx.log.detail(`${describeRef(refOf(object))}: ${verb}`)
  }
  return results
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
