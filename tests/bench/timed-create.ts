import { redactor } from '../../lib/core/redact.ts'
import type { Workspace } from '../local/workspace.ts'

/**
 * One `create` of a workspace, timed from spawn: to step 08 reporting every Application
 * Synced/Healthy (`converged`) and to exit (`total`), with each step's time and the Kubernetes API
 * requests from the run's own summary. A run that fails or never converges throws CreateFailed.
 */
export interface TimedCreate {
  converged: number
  total: number
  steps: Record<string, number>
  /** From the summary's `Kubernetes API: R reads, W writes` line. */
  requests?: { reads: number; writes: number }
  output: string
}

export class CreateFailed extends Error {
  constructor(
    readonly reason: string,
    readonly tail: string,
  ) {
    super(`create failed: ${reason}\n${tail}`)
  }
}

export async function timedCreate(ws: Workspace): Promise<TimedCreate> {
  const started = performance.now()
  const { child, done } = ws.spawnCli('scripts/create.ts')
  let converged: number | undefined
  let header = ''
  let pending = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      const step = /^\[(\d\d)\] /.exec(line)
      if (step) header = step[1] ?? ''
      else if (header === '08' && converged === undefined && /^\s+done in /.test(line)) {
        converged = performance.now() - started
      }
    }
  })
  const result = await done
  const total = performance.now() - started
  if (result.code !== 0 || converged === undefined) {
    const cause = result.output.split('\n').find((line) => line.includes('✗')) ?? `exited ${result.code}`
    throw new CreateFailed(
      redactor.mask(cause.replace(/^\s*✗\s*/, '')),
      redactor.mask(result.output.split('\n').slice(-25).join('\n')),
    )
  }
  return {
    converged,
    total,
    steps: stepTimes(result.output),
    requests: apiRequests(result.output),
    output: result.output,
  }
}

/** Each step's time from the summary a run prints at its end (`  04 repo-credentials  ok  108 ms`). */
export function stepTimes(output: string): Record<string, number> {
  const steps: Record<string, number> = {}
  for (const line of output.split('\n')) {
    const match = /^ {2}(\d\d [\w-]+)\s+ok\s+([\d.]+) (ms|s)$/.exec(line)
    if (match) steps[match[1] as string] = Number(match[2]) * (match[3] === 's' ? 1000 : 1)
  }
  return steps
}

export function apiRequests(output: string): { reads: number; writes: number } | undefined {
  const match = /^ {2}Kubernetes API: (\d+) reads, (\d+) writes$/m.exec(output)
  return match ? { reads: Number(match[1]), writes: Number(match[2]) } : undefined
}
