import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import * as age from 'age-encryption'
import { writeFileAtomic, writeNewFile } from '../core/atomic-file.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'

/**
 * age keys for SOPS: the personal key that decrypts the bootstrap secrets, and armored
 * backups of it. An identity never reaches a log line or an error message: errors name
 * files and line numbers, never their content.
 */
export interface AgeKeyPair {
  /** `AGE-SECRET-KEY-1…`: the private half. */
  identity: string
  /** `age1…`: the public half, safe to print and to commit in .sops.yaml. */
  recipient: string
}

const IDENTITY_PREFIX = 'AGE-SECRET-KEY-'
const KEY_FILE_MODE = 0o600
const KEY_DIR_MODE = 0o700

/** A new X25519 key: the kind sops reads (post-quantum keys are not asked for until sops and KSOPS both read them). */
export async function generateIdentity(): Promise<AgeKeyPair> {
  const identity = await age.generateX25519Identity()
  redactor.add(identity)
  return { identity, recipient: await age.identityToRecipient(identity) }
}

export async function recipientOf(identity: string): Promise<string> {
  redactor.add(identity)
  try {
    return await age.identityToRecipient(identity)
  } catch (error) {
    // The library's message may quote the input; say only what kind of thing was wrong.
    throw new BootstrapError('not a valid age identity (expected AGE-SECRET-KEY-1…)', {
      cause: scrub(error),
    })
  }
}

/** Encrypts to every recipient; the armored form is text, so a backup can live in a password manager or git. */
export async function encryptTo(recipients: string[], plaintext: string | Uint8Array): Promise<string> {
  if (recipients.length === 0) throw new BootstrapError('age: no recipients to encrypt to')
  const encrypter = new age.Encrypter()
  for (const recipient of recipients) {
    try {
      encrypter.addRecipient(recipient)
    } catch (error) {
      throw new BootstrapError(`age: ${JSON.stringify(recipient)} is not a valid age recipient`, {
        cause: error,
      })
    }
  }
  return age.armor.encode(await encrypter.encrypt(plaintext))
}

export async function decryptWith(identities: string[], armored: string): Promise<string> {
  if (identities.length === 0) throw new BootstrapError('age: no identities to decrypt with')
  const decrypter = new age.Decrypter()
  for (const identity of identities) {
    redactor.add(identity)
    try {
      decrypter.addIdentity(identity)
    } catch (error) {
      throw new BootstrapError('age: one of the identities is not a valid age identity', {
        cause: scrub(error),
      })
    }
  }
  let file: Uint8Array
  try {
    file = age.armor.decode(armored)
  } catch (error) {
    throw new BootstrapError(
      'age: the input is not an armored age file (-----BEGIN AGE ENCRYPTED FILE-----)',
      {
        cause: error,
      },
    )
  }
  try {
    return await decrypter.decrypt(file, 'text')
  } catch (error) {
    throw new BootstrapError(`age: could not decrypt: ${redactor.mask(errorMessage(error))}`, {
      hint: 'is it encrypted to one of these keys? the recipients of each key are its `# public key:` lines',
      cause: scrub(error),
    })
  }
}

/**
 * Reads an age key file as age-keygen writes it: `#` comments (`# public key: age1…`),
 * blank lines, one identity per line, several allowed. A `# public key:` comment that
 * does not match the identity after it is an error: the file was edited by hand and the
 * comment would mislead whoever reads it to pick a recipient.
 */
export async function parseIdentityFile(text: string, source = 'age key file'): Promise<AgeKeyPair[]> {
  const pairs: AgeKeyPair[] = []
  let statedRecipient: string | undefined
  const lines = text.split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (!line) continue
    if (line.startsWith('#')) {
      const match = /^#\s*public key:\s*(\S+)/i.exec(line)
      if (match) statedRecipient = match[1]
      continue
    }
    if (!line.startsWith(IDENTITY_PREFIX)) {
      redactor.add(line)
      throw new BootstrapError(`${source}: line ${index + 1} is not an age identity (AGE-SECRET-KEY-1…)`, {
        hint: 'plugin and post-quantum identities are not supported here; a key file holds comments and AGE-SECRET-KEY-1 lines only',
      })
    }
    redactor.add(line)
    let recipient: string
    try {
      recipient = await age.identityToRecipient(line)
    } catch (error) {
      throw new BootstrapError(`${source}: line ${index + 1} is not a valid age identity`, {
        cause: scrub(error),
      })
    }
    if (statedRecipient && statedRecipient !== recipient) {
      throw new BootstrapError(
        `${source}: line ${index + 1}: its "# public key: ${statedRecipient}" comment does not match the key (which is ${recipient})`,
        { hint: 'fix or delete the comment; `age-keygen -y <file>` prints the real public keys' },
      )
    }
    statedRecipient = undefined
    pairs.push({ identity: line, recipient })
  }
  if (pairs.length === 0) throw new BootstrapError(`${source} holds no age identity`)
  return pairs
}

export interface KeyFile {
  keys: AgeKeyPair[]
  /** Set when the file is readable by others than its owner: worth saying, not worth stopping for. */
  warning?: string
}

export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string
  let mode: number
  try {
    mode = (await stat(path)).mode & 0o777
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BootstrapError(`age key file ${path} does not exist`, {
        hint: 'restore it from its backup, or create a new key (and re-encrypt the SOPS files to it)',
      })
    }
    throw new BootstrapError(`cannot read age key file ${path}: ${errorMessage(error)}`, { cause: error })
  }
  const keys = await parseIdentityFile(text, path)
  const warning =
    (mode & ~KEY_FILE_MODE) !== 0
      ? `age key file ${path} has mode ${octal(mode)}, wider than 0600: run \`chmod 600 ${path}\``
      : undefined
  return warning ? { keys, warning } : { keys }
}

/**
 * Writes a key file in age-keygen's format, 0600 in a 0700 folder. It never replaces an
 * existing key unless asked: a lost personal key means every SOPS file encrypted only
 * to it is lost too.
 */
export async function writeKeyFile(
  path: string,
  identity: string,
  options: { overwrite?: boolean; now?: Date } = {},
): Promise<AgeKeyPair> {
  const recipient = await recipientOf(identity)
  redactor.add(identity)
  const created = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const content = `# created: ${created}\n# public key: ${recipient}\n${identity}\n`

  const dir = dirname(path)
  const firstCreated = await mkdir(dir, { recursive: true, mode: KEY_DIR_MODE })
  // Only folders made here are tightened: the parent may be a shared one such as /tmp.
  if (firstCreated) for (const made of foldersBetween(firstCreated, dir)) await chmod(made, KEY_DIR_MODE)

  if (!options.overwrite) {
    try {
      await writeNewFile(path, content, KEY_FILE_MODE)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new BootstrapError(`age key file ${path} already exists: not overwriting it`, {
          hint: 'move it away first if you really mean to replace this key (keep a backup: files encrypted to it need it)',
        })
      }
      throw error
    }
    return { identity, recipient }
  }
  // Replacing one: beside it and renamed, so a crash never leaves a half-written key in place.
  await writeFileAtomic(path, content, KEY_FILE_MODE)
  return { identity, recipient }
}

function foldersBetween(top: string, bottom: string): string[] {
  const folders: string[] = []
  for (let dir = bottom; dir.length >= top.length; dir = dirname(dir)) {
    folders.push(dir)
    if (dir === top || dirname(dir) === dir) break
  }
  return folders
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`
}

/** An error from the age library with any registered secret masked out of its message. */
function scrub(error: unknown): Error {
  return new Error(redactor.mask(errorMessage(error)))
}
