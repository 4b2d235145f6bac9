import { execa } from 'execa'
import { BootstrapError, ProcessError } from './errors.ts'
import { redactor } from './redact.ts'
import { toolsPath } from './tools/index.ts'

export interface RunOptions {
  /** Written to the child's stdin (never to disk): how secret values reach a tool. */
  input?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs?: number
  /** Said after the error when the command fails: how to fix it. */
  hint?: string
}

export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs one external binary. Injected as a dependency (`deps.run`) so tests can swap it. */
export type Run = (command: string, args: string[], options?: RunOptions) => Promise<RunResult>

/**
 * Runs a pinned tool: the tools cache comes first on PATH, output is captured (never
 * inherited, so a tool cannot print a secret past the redactor), and a failure becomes a
 * ProcessError whose stderr is masked.
 */
export const run: Run = async (command, args, options = {}) => {
  const env = { ...process.env, ...options.env, PATH: toolsPath(options.env?.PATH ?? process.env.PATH) }
  const result = await execa(command, args, {
    input: options.input,
    env,
    extendEnv: false,
    cwd: options.cwd,
    timeout: options.timeoutMs,
    reject: false,
    stripFinalNewline: false,
  })
  const stdout = String(result.stdout ?? '')
  const stderr = redactor.mask(String(result.stderr ?? ''))
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new BootstrapError(`${command} was not found on PATH or in the tools cache`, {
      hint: `is ${command} installed? run \`just tools\` to install every pinned tool, or \`just doctor\` to see what is missing`,
      exitCode: 127,
    })
  }
  if (result.timedOut) {
    throw new ProcessError(
      `${command} ${args[0] ?? ''}`.trim(),
      undefined,
      `timed out after ${options.timeoutMs} ms\n${stderr}`,
      options.hint,
    )
  }
  if (result.exitCode !== 0) {
    throw new ProcessError(`${command} ${args[0] ?? ''}`.trim(), result.exitCode, stderr, options.hint)
  }
  return { stdout, stderr }
}
