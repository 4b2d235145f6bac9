import { chmodSync, copyFileSync, writeFileSync } from 'node:fs'
import type { ExitStatus } from '../core/exec.ts'
import type { Tool } from './catalogue.ts'
import type { ToolDeps } from './deps.ts'

/** One tool install under way: its staging and scratch folders, its log, and the build steps it runs. */

export interface Job {
  tool: Tool
  deps: ToolDeps
  /** Where the binaries go: moved to the tool folder only when everything succeeded. */
  stage: string
  /** Scratch space (wrapper modules, downloads), removed afterwards. */
  work: string
  logFile: string
}

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly exitCode: number,
  ) {
    super(`${step} exited ${exitCode}`)
  }
}

export function appendLog(job: Job, text: string): void {
  writeFileSync(job.logFile, text, { flag: 'a' })
}

/** Runs one build command, keeping its whole output in the tool's log; throws StepFailed on a non-zero exit. */
export async function step(
  job: Job,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ExitStatus> {
  const shown = `${command} ${args.join(' ')}`
  appendLog(job, `\n$ ${shown}${options.cwd ? `   (in ${options.cwd})` : ''}\n`)
  const started = job.deps.now()
  const result = await job.deps.run(command, args, {
    cwd: options.cwd ?? job.work,
    env: { ...job.deps.env, ...options.env },
  })
  const output = `${result.stdout}${result.stderr}`
  appendLog(
    job,
    `${output}${output && !output.endsWith('\n') ? '\n' : ''}# exit ${result.exitCode} after ${Math.round((job.deps.now() - started) / 1000)} s\n`,
  )
  if (result.exitCode !== 0)
    throw new StepFailed(shown.length > 160 ? `${shown.slice(0, 157)}...` : shown, result.exitCode)
  return result
}

export function copyInto(from: string, to: string, mode: number): void {
  copyFileSync(from, to)
  chmodSync(to, mode) // the module cache is read-only; the tool folder must stay removable
}
