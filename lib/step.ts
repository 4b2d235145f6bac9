import type { Context } from './context.ts'

/** One numbered page of the runbook: `scripts/NN-name.ts` exports one of these. */
export interface Step {
  id: string
  name: string
  /** One line: what the step leaves behind. */
  summary: string
  run(ctx: Context): Promise<void>
}

export function defineStep(step: Step): Step {
  return step
}
