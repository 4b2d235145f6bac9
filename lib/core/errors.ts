/**
 * The one error type the runbook throws on purpose. It carries what a person needs to act:
 * a one-line cause, a hint saying how to fix it, and the exit code the CLI ends with.
 * Anything else that escapes a step is a bug and is reported as such.
 */
export class BootstrapError extends Error {
  readonly hint?: string
  readonly exitCode: number

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'BootstrapError'
    this.hint = options.hint
    this.exitCode = options.exitCode ?? 1
  }
}

/** A child process that exited non-zero: the command, its exit code and the tail of its stderr. */
export class ProcessError extends BootstrapError {
  readonly command: string
  readonly stderr: string
  readonly code: number | undefined

  constructor(command: string, code: number | undefined, stderr: string, hint?: string) {
    const tail = lastLines(stderr, 3)
    super(`${command} failed${code === undefined ? '' : ` (exit ${code})`}${tail ? `: ${tail}` : ''}`, {
      hint,
    })
    this.name = 'ProcessError'
    this.command = command
    this.stderr = stderr
    this.code = code
  }
}

export function lastLines(text: string, count: number): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ')
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
