import { execa, type Options } from 'execa'
// Not ./tools/index.ts: the tools installer runs its commands through this module.
import { toolsPath } from '../tools/catalogue.ts'
import { BootstrapError, ProcessError } from './errors.ts'
import { redactor } from './redact.ts'

/**
 * Every short-lived child process of the runbook starts here, in one call of execa: the tools
 * cache first on PATH (for `run`), stderr masked with every registered secret, a timeout, and a
 * binary that does not exist (ENOENT) reported as exit code 127. Two ways to hear how it ended:
 * `run` throws a ProcessError (a step stops on a failed command), `runStatus` returns the exit
 * code (probes and the tools installer decide for themselves). Long-lived processes (the local
 * stack's, the test runner's phases) are started elsewhere: they outlive one call.
 */

export interface RunOptions {
  /** Written to the child's stdin (never to disk): how secret values reach a tool. */
  input?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs?: number
  /** Said after the error when the command fails: how to fix it. */
  hint?: string
  /**
   * The terminal is handed to the child (stdio inherited), for an editor. Nothing is captured:
   * the result is empty and a failure's stderr is what the person saw.
   */
  interactive?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs one external binary. Injected as a dependency (`deps.run`) so tests can swap it. */
export type Run = (command: string, args: string[], options?: RunOptions) => Promise<RunResult>

export interface StatusOptions {
  cwd?: string
  /** The child's whole environment (nothing else is inherited; default process.env). */
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

export interface ExitStatus extends RunResult {
  /** 127 when the command does not exist. */
  exitCode: number
}

/** Runs a command and reports how it ended; never throws for a non-zero exit. */
export type RunStatus = (command: string, args: string[], options?: StatusOptions) => Promise<ExitStatus>

/** The installer's builds print a lot (go build -x); beyond this a child is killed, not buffered. */
const MAX_BUFFER = 256 * 1024 * 1024

interface Ended {
  /** Undefined when the child was killed (a timeout, a signal). */
  exitCode: number | undefined
  /** The binary is on no folder of the PATH given. */
  missing: boolean
  timedOut: boolean
  stdout: string
  stderr: string
}

/** The one call of execa. The env given is the child's whole environment. */
async function spawn(command: string, args: string[], options: Options): Promise<Ended> {
  const result = await execa(command, args, {
    ...options,
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: MAX_BUFFER,
  })
  return {
    exitCode: result.exitCode,
    missing: (result as { code?: string }).code === 'ENOENT',
    timedOut: result.timedOut,
    stdout: String(result.stdout ?? ''),
    // Captured, never inherited (except for an editor), so a tool cannot print a secret past this.
    stderr: redactor.mask(String(result.stderr ?? '')),
  }
}

/**
 * Runs a pinned tool: the tools cache comes first on PATH, output is captured, and a failure
 * becomes a ProcessError whose stderr is masked (a missing binary: BootstrapError, exit code 127).
 */
export const run: Run = async (command, args, options = {}) => {
  const env = { ...process.env, ...options.env }
  env.PATH = toolsPath(options.env?.PATH ?? process.env.PATH, env)
  const ended = await spawn(command, args, {
    env,
    cwd: options.cwd,
    timeout: options.timeoutMs,
    ...(options.interactive ? { stdio: 'inherit' } : { input: options.input }),
  })
  if (ended.missing) {
    throw new BootstrapError(`${command} was not found on PATH or in the tools cache`, {
      hint: `is ${command} installed? run \`just tools\` to install every pinned tool, or \`just doctor\` to see what is missing`,
      exitCode: 127,
    })
  }
  const shown = `${command} ${args[0] ?? ''}`.trim()
  if (ended.timedOut) {
    throw new ProcessError(
      shown,
      undefined,
      `timed out after ${options.timeoutMs} ms\n${ended.stderr}`,
      options.hint,
    )
  }
  if (ended.exitCode !== 0) throw new ProcessError(shown, ended.exitCode, ended.stderr, options.hint)
  return { stdout: ended.stdout, stderr: ended.stderr }
}

/**
 * Runs a command exactly in the environment given (no tools cache put first: what is asked is what
 * this PATH has) with stdin closed, so a build never waits on a prompt, and reports how it ended.
 */
export const runStatus: RunStatus = async (command, args, options = {}) => {
  const ended = await spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    timeout: options.timeoutMs,
    stdin: 'ignore',
  })
  if (ended.missing) return { exitCode: 127, stdout: '', stderr: `${command}: command not found` }
  const timedOut = ended.timedOut ? `\n${command} timed out after ${options.timeoutMs} ms` : ''
  return { exitCode: ended.exitCode ?? 1, stdout: ended.stdout, stderr: `${ended.stderr}${timedOut}` }
}
