import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { BootstrapError, errorMessage, lastLines, ProcessError } from '../core/errors.ts'
import { notSops, shownPath } from './file.ts'
import { recipientsOf } from './recipients.ts'

/** The one explanation of a failed sops run: what went wrong with which file, and what to do. */

export type SopsAction = 'decrypt' | 'encrypt' | 'edit' | 'create' | 'update the keys of'

export interface FailureContext {
  file: string
  action: SopsAction
  /** The age key file sops was given (actions that decrypt). */
  keyFile?: string
  /** Where sops ran: a file inside it is named relative to it. */
  cwd?: string
  /** The caller names the file already (a line of a per-file list): the message calls it "it". */
  terse?: boolean
}

const TOOLS_HINT = 'run `just tools` to install every pinned tool, or `just doctor` to see what is missing'
// sops exits 128 when it cannot get the data key; the messages are those of the age key source.
const NO_KEY = /Failed to get the data key|no identity matched|0 successful groups/i
const CORRUPT = /MAC|authentication failed|unmarshal|yaml:|invalid character|Error decrypting tree/i

/** Turns a failed sops run into an error that names the file and says what to do; other errors pass through. */
export async function explainFailure(error: unknown, context: FailureContext): Promise<Error> {
  const { action, keyFile, terse } = context
  const file = shownPath(context.file, context.cwd)
  if (error instanceof BootstrapError && !(error instanceof ProcessError) && error.exitCode === 127) {
    return new BootstrapError(
      terse ? 'sops is not installed' : `sops is not installed: cannot ${action} ${file}`,
      {
        hint: TOOLS_HINT,
        exitCode: 127,
        cause: error,
      },
    )
  }
  if (!(error instanceof ProcessError)) return error instanceof Error ? error : new Error(String(error))
  // run already masked stderr with every registered value.
  const stderr = error.stderr
  const decrypting = action !== 'encrypt' && action !== 'create'
  if (decrypting && (error.code === 128 || NO_KEY.test(stderr))) {
    let recipients: string
    try {
      const list = await recipientsOf(resolve(context.cwd ?? '.', context.file))
      recipients = list.length > 0 ? list.join(', ') : 'no age recipients (other key types only)'
    } catch {
      recipients = 'recipients unreadable'
    }
    const tried = `${keyFile}${keyFile && !existsSync(resolve(context.cwd ?? '.', keyFile)) ? ', which does not exist' : ''}`
    return new BootstrapError(
      terse
        ? `no age key you hold decrypts it (it is encrypted to ${recipients}; key file ${tried})`
        : `no available age key decrypts ${file}: it is encrypted to ${recipients}; key file tried: ${tried} (SOPS_AGE_KEY_FILE)`,
      {
        hint: 'point SOPS_AGE_KEY_FILE at the key of one of those recipients, or have a holder of one add your key (`sops updatekeys`)',
        cause: error,
      },
    )
  }
  if (stderr.includes('sops metadata not found')) return notSops(file)
  if (CORRUPT.test(stderr)) {
    return new BootstrapError(`${file} is corrupt or was edited outside sops: ${lastLines(stderr, 1)}`, {
      hint: 'restore it from git; never edit the ciphertext by hand (use `sops <file>`)',
      cause: error,
    })
  }
  if (action === 'encrypt' && stderr.includes('creation rules')) {
    return new BootstrapError(`sops could not encrypt ${file}: ${lastLines(stderr, 1)}`, {
      hint: 'check .sops.yaml: a creation rule for this path is missing or conflicts with the given recipients',
      cause: error,
    })
  }
  if (action === 'edit' || action === 'create') {
    // The editor had the terminal: sops' own message is on it, not in stderr.
    return new BootstrapError(`sops exited ${error.code} editing ${file} (its message is above)`, {
      hint:
        action === 'edit'
          ? 'a decryption error means no key you hold decrypts it: point SOPS_AGE_KEY_FILE at the key of one of its recipients'
          : 'check the .sops.yaml rule for this path',
      cause: error,
    })
  }
  return new BootstrapError(
    terse
      ? lastLines(stderr, 1) || error.message
      : `sops could not ${action} ${file}: ${errorMessage(error)}`,
    {
      hint: 'check .sops.yaml and the file; never edit the ciphertext by hand (use `sops <file>`)',
      cause: error,
    },
  )
}
