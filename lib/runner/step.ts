import { applyAll } from '../kube/apply.ts'
import type { KObject } from '../kube/client.ts'
import type { Context } from './context.ts'

/**
 * One numbered page of the runbook: `scripts/NN-name.ts` exports one of these. A step that
 * owns Kubernetes objects says which in `objects` (reads and checks allowed, never a write), and
 * the runner applies them; `run` is whatever else the step does, after its objects are applied.
 * The benchmark runs the same `objects` through the same applier, so it measures these steps,
 * not a copy of them.
 */
export interface Step {
  id: string
  name: string
  /** One line: what the step leaves behind. */
  summary: string
  objects?(ctx: Context): Promise<KObject[]>
  run?(ctx: Context): Promise<void>
  /**
   * Reads the step may start as the run begins, for their result to be ready when it comes (a
   * sops decrypt, run beside the steps before). Called for each step the run will run, before
   * the first; it writes nothing and says nothing, and only the step itself takes what it started.
   */
  prefetch?(ctx: Context): void
}

export function defineStep(step: Step): Step {
  if (!step.objects && !step.run) throw new Error(`step ${step.id}-${step.name} has neither objects nor run`)
  return step
}

/** What the runner does with a step: apply its objects, then run the rest of it. */
export async function runStep(ctx: Context, step: Step): Promise<void> {
  if (step.objects) await applyAll(ctx, await step.objects(ctx))
  await step.run?.(ctx)
}
