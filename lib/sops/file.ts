import { existsSync } from 'node:fs'
import { basename, isAbsolute, relative, resolve } from 'node:path'
import { BootstrapError } from '../core/errors.ts'

/** A SOPS file: its format (from its name), how it is named in messages, and the errors for one that is missing or is not one. */

export type SopsFormat = 'yaml' | 'json' | 'dotenv'

/** The format sops infers from the name; one rule here so encrypt and decrypt agree with it. */
export function formatOf(file: string): SopsFormat {
  const name = basename(file).toLowerCase()
  if (name.endsWith('.json')) return 'json'
  if (name.endsWith('.env')) return 'dotenv'
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return 'yaml'
  throw new BootstrapError(`cannot tell the format of ${file} from its name`, {
    hint: 'name SOPS files *.yaml, *.json or *.env',
  })
}

/** The file as a message names it: relative to the folder sops ran in when it is inside it, else as given. */
export function shownPath(file: string, cwd?: string): string {
  if (!cwd) return file
  const rel = relative(cwd, resolve(cwd, file))
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}

export function assertExists(file: string): void {
  if (!existsSync(file)) {
    throw new BootstrapError(`SOPS file ${file} does not exist`, {
      hint: 'check the environment name and the path; create it with the secrets step if this environment is new',
    })
  }
}

export function notSops(file: string): BootstrapError {
  return new BootstrapError(`${file} is not a SOPS-encrypted file (no sops metadata) or is corrupt`, {
    hint: 'restore it from git; never edit the ciphertext by hand (use `sops <file>`)',
  })
}
