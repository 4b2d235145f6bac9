import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { decryptWith, encryptTo } from '../bootstrap-secrets/age.ts'
import { writeFileAtomic } from '../core/atomic-file.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { GENERATED_PREFIX, INIT_KEYS } from './init-store.ts'

/**
 * OpenBao's own raft snapshot (`sys/storage/raft/snapshot`: every value, policy, role and token),
 * kept as one file: a plaintext header a person can read — when it was taken, to which age keys it
 * is encrypted — then the armored age ciphertext of the snapshot and of the init-file values that
 * work with it (its admin token, its recovery keys). The snapshot exists unencrypted only in memory.
 */

export const SNAPSHOT_PATH = 'sys/storage/raft/snapshot'
const HEADER = '# platform-bootstrap OpenBao snapshot'

export interface Snapshot {
  takenAt: string
  /** The gzip'd tar OpenBao answered with. */
  bytes: Buffer
  /** The init file's values at that time, those of its initialisation: valid against the restored data. */
  init: Record<string, string>
}

export interface SnapshotHeader {
  takenAt: string
  recipients: string[]
}

/** Writes the file atomically (a temp file beside it, then a rename): a half-written snapshot never replaces a good one. */
export async function writeSnapshot(file: string, snapshot: Snapshot, recipients: string[]): Promise<void> {
  const envelope = JSON.stringify({
    format: 1,
    takenAt: snapshot.takenAt,
    init: snapshot.init,
    snapshot: snapshot.bytes.toString('base64'),
  })
  const armored = await encryptTo(recipients, envelope)
  const text = [
    HEADER,
    `# taken: ${snapshot.takenAt}`,
    `# recipients: ${recipients.join(', ')}`,
    armored,
  ].join('\n')
  await writeFileAtomic(file, text, 0o600)
}

export function readSnapshotHeader(file: string): SnapshotHeader {
  const text = readFileSync(file, 'utf8')
  const field = (name: string) => new RegExp(`^# ${name}: (.*)$`, 'm').exec(text)?.[1]?.trim()
  if (!text.startsWith(HEADER) || !field('taken'))
    throw new BootstrapError(
      `${file} is not an OpenBao snapshot of platform-bootstrap (no "${HEADER}" header)`,
    )
  return {
    takenAt: field('taken') as string,
    recipients: (field('recipients') ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
  }
}

/**
 * Decrypts a snapshot file with the given identities. One no key decrypts is refused, naming the
 * file and the keys it is encrypted to — before anything else happens, so nothing changes.
 */
export async function readSnapshot(file: string, identities: string[], keyFile: string): Promise<Snapshot> {
  if (!existsSync(file)) throw new BootstrapError(`${file} does not exist`)
  const header = readSnapshotHeader(file)
  const text = readFileSync(file, 'utf8')
  const armored = text.slice(text.indexOf('-----BEGIN AGE ENCRYPTED FILE-----'))
  let plain: string
  try {
    plain = await decryptWith(identities, armored)
  } catch (error) {
    throw new BootstrapError(
      `${file} (taken ${header.takenAt}) is encrypted to ${header.recipients.join(', ') || 'unknown keys'}, and no key in ${keyFile} decrypts it`,
      {
        hint: 'set SOPS_AGE_KEY_FILE to a key file holding one of those keys; nothing was changed',
        cause: error,
      },
    )
  }
  const envelope = JSON.parse(plain) as {
    format?: number
    takenAt?: string
    init?: Record<string, string>
    snapshot?: string
  }
  if (envelope.format !== 1 || !envelope.snapshot)
    throw new BootstrapError(
      `${file}: not a snapshot this version of platform-bootstrap reads (format ${envelope.format})`,
    )
  redactor.addAll(Object.values(envelope.init ?? {}))
  return {
    takenAt: envelope.takenAt ?? header.takenAt,
    bytes: Buffer.from(envelope.snapshot, 'base64'),
    init: envelope.init ?? {},
  }
}

/** The init-file values that belong to one initialisation (the admin token, recovery keys): what a snapshot carries. */
export function initValuesOf(file: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(file).filter(
      ([key]) =>
        !key.startsWith(GENERATED_PREFIX) && key !== INIT_KEYS.rootToken && key !== INIT_KEYS.restoringFrom,
    ),
  )
}

/**
 * GET sys/storage/raft/snapshot: the body is binary (a gzip'd tar), so plain fetch, not the JSON
 * client. OpenBao can answer 200 and still cut the stream short: a snapshot whose sealed checksum
 * file is missing or empty is incomplete, and refused (as OpenBao's own client does).
 */
export async function downloadSnapshot(address: string, token: string): Promise<Buffer> {
  const response = await fetch(`${address}/v1/${SNAPSHOT_PATH}`, {
    headers: { 'X-Vault-Token': token },
    signal: AbortSignal.timeout(120_000),
  }).catch((error: unknown) => {
    throw new BootstrapError(
      `OpenBao at ${address} did not answer the snapshot request: ${errorMessage(error)}`,
    )
  })
  if (!response.ok)
    throw new BootstrapError(
      `OpenBao at ${address} refused a snapshot: ${response.status} ${bodyErrors(await response.text().catch(() => ''))}`,
      {
        hint:
          response.status === 403
            ? 'the admin token lacks read on sys/storage/raft/snapshot: run `just openbao-setup <env>` once to update its policy'
            : response.status === 503
              ? 'it is sealed or not ready'
              : undefined,
      },
    )
  const bytes = Buffer.from(await response.arrayBuffer())
  assertComplete(bytes, address)
  return bytes
}

/** POST sys/storage/raft/snapshot: OpenBao answers 204 at once and applies it in the background. */
export async function uploadSnapshot(address: string, token: string, bytes: Buffer): Promise<void> {
  const response = await fetch(`${address}/v1/${SNAPSHOT_PATH}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/octet-stream' },
    body: bytes,
    signal: AbortSignal.timeout(120_000),
  }).catch((error: unknown) => {
    throw new BootstrapError(`OpenBao at ${address} did not answer the restore: ${errorMessage(error)}`)
  })
  if (response.status !== 204 && response.status !== 200) {
    // The body is read once: its errors for the message, its wording for the hint.
    const text = await response.text().catch(() => '')
    throw new BootstrapError(
      `OpenBao at ${address} refused the snapshot: ${response.status} ${bodyErrors(text)}`,
      {
        hint: /verify hash|unseal keys|autoseal/i.test(text)
          ? "the snapshot was taken under another seal key than this OpenBao's (Secret openbao-unseal-key): it can only be restored with that key"
          : undefined,
      },
    )
  }
}

function bodyErrors(text: string): string {
  try {
    const errors = (JSON.parse(text) as { errors?: unknown }).errors
    return redactor.mask(Array.isArray(errors) ? errors.join('; ') : text.slice(0, 200))
  } catch {
    return redactor.mask(text.slice(0, 200))
  }
}

/** A tar inside the gzip, with a non-empty SHA256SUMS.sealed entry. */
function assertComplete(bytes: Buffer, address: string): void {
  let tar: Buffer
  try {
    tar = gunzipSync(bytes)
  } catch {
    throw new BootstrapError(
      `OpenBao at ${address} sent a snapshot that is not gzip: incomplete or not a snapshot`,
    )
  }
  for (let at = 0; at + 512 <= tar.length; ) {
    const name = tar
      .subarray(at, at + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '')
    if (!name) break
    const size = Number.parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString('utf8')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    )
    if (name === 'SHA256SUMS.sealed' && size > 0) return
    at += 512 + Math.ceil(size / 512) * 512
  }
  throw new BootstrapError(
    `OpenBao at ${address} sent an incomplete snapshot (no sealed checksums): try again`,
  )
}
