import { BootstrapError, ProcessError } from '../core/errors.ts'
import type { RunResult } from '../core/exec.ts'
import { redactor } from '../core/redact.ts'
import { defaultSopsDeps, runSops, type SopsDeps } from './binary.ts'
import { type DecryptOptions, decrypt } from './decrypt.ts'

/**
 * `sops exec-env`: runs `command` with the file's values in its environment. The file is
 * decrypted here first as well: its values get registered with the redactor (the child's
 * output is masked with them) and a missing key fails with the same explained error.
 */
export async function execEnv(
  file: string,
  command: string[],
  options: DecryptOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<RunResult> {
  if (command.length === 0) throw new BootstrapError('sops exec-env: no command given')
  await decrypt(file, options, deps)
  try {
    // The command runs as long as it needs: no sops timeout.
    const result = await runSops(
      ['exec-env', file, command.map(posixQuote).join(' ')],
      { ...options, untimed: true },
      deps,
    )
    return { stdout: redactor.mask(result.stdout), stderr: result.stderr }
  } catch (error) {
    if (error instanceof ProcessError) {
      throw new BootstrapError(`${command[0]} (run by sops exec-env with ${file}) failed: ${error.message}`, {
        cause: error,
      })
    }
    throw error
  }
}

/**
 * One word for `/bin/sh -c`, which is how sops exec-env runs the command. Not zx's `quote`: it
 * writes bash's $'…' form, which a POSIX sh such as dash reads as a `$` and a quoted word.
 */
function posixQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}
