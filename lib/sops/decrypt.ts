import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { defaultSopsDeps, keyFileOf, runSopsOn, type SopsDeps, type SopsRunOptions } from './binary.ts'
import { assertExists, formatOf, shownPath } from './file.ts'

/** Decrypting: the plaintext comes back on sops' stdout, as JSON, and never touches a file. */

export type DecryptOptions = Omit<SopsRunOptions, 'terse'>

/** A SOPS file of flat string values; every value is registered with the redactor before it is returned. */
export async function decrypt(
  file: string,
  options: DecryptOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<Record<string, string>> {
  return flatStrings(await decryptDocument(file, options, deps), file)
}

/**
 * A SOPS file's whole document. Nothing is registered with the redactor here: only the caller
 * knows which of its strings are secret (a Secret's data, not its name); it registers them.
 * A decrypt of the same file started ahead (decryptAhead) is taken instead of running sops again.
 */
export async function decryptDocument(
  file: string,
  options: DecryptOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<unknown> {
  const started = ahead.get(deps)
  const key = started?.size ? aheadKey(file, options, deps) : undefined
  const early = key === undefined ? undefined : started?.get(key)
  if (key !== undefined && early) {
    started?.delete(key)
    return early
  }
  return sopsDecrypt(file, options, deps)
}

/**
 * Decrypts started before the step that needs them (Step.prefetch), so sops runs beside the steps
 * before it instead of after them. Each is taken by the first decryptDocument of the same file
 * bytes with the same key file bytes, folder and deps; anything else — the file or the key changed
 * since, a caller with other deps — runs sops anew. One that is never taken costs a sops run and
 * says nothing: its failure, if any, is the step's to report, with the step's own decrypt.
 */
const ahead = new WeakMap<SopsDeps, Map<string, Promise<unknown>>>()

export function decryptAhead(
  file: string,
  options: DecryptOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): void {
  const key = aheadKey(file, options, deps)
  if (key === undefined) return
  const started = ahead.get(deps) ?? new Map<string, Promise<unknown>>()
  ahead.set(deps, started)
  if (started.has(key)) return
  // One after another: each sops takes a core while it starts, and the steps need the other.
  const decrypting = aheadQueue.then(() => sopsDecrypt(file, options, deps))
  // Not left unhandled while no step has asked for it; the step that takes it gets the failure.
  aheadQueue = decrypting.then(
    () => undefined,
    () => undefined,
  )
  started.set(key, decrypting)
}
let aheadQueue: Promise<void> = Promise.resolve()

/** What a decrypt's outcome depends on: the file's and the key file's bytes (digested), the folder and key file named. */
function aheadKey(file: string, options: DecryptOptions, deps: SopsDeps): string | undefined {
  const keyFile = keyFileOf(options, deps)
  const digest = createHash('sha256')
  try {
    digest.update(readFileSync(resolve(options.cwd ?? '', file)))
  } catch {
    return undefined
  }
  digest.update('\0')
  try {
    digest.update(readFileSync(keyFile))
  } catch {
    // No key file: sops is refused, the same way each time until one is made (and then the digest differs).
  }
  return JSON.stringify([resolve(options.cwd ?? '', file), options.cwd ?? '', keyFile, digest.digest('hex')])
}

async function sopsDecrypt(file: string, options: DecryptOptions, deps: SopsDeps): Promise<unknown> {
  const format = formatOf(file)
  assertExists(file)
  const { stdout } = await runSopsOn(
    file,
    'decrypt',
    ['--decrypt', '--input-type', format, '--output-type', 'json', file],
    options,
    deps,
  )
  try {
    return JSON.parse(stdout)
  } catch {
    // Never quote stdout: it is plaintext.
    throw new BootstrapError(`sops decrypted ${shownPath(file, options.cwd)} but its output is not JSON`)
  }
}

/** The values of a flat map of strings; anything else is named (never shown) and refused. */
function flatStrings(parsed: unknown, file: string): Record<string, string> {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BootstrapError(`${file} does not hold a map of fields`)
  }
  const values: Record<string, string> = {}
  const entries = Object.entries(parsed as Record<string, unknown>)
  // Register everything first, so even the error below about a bad field cannot leak a good one.
  for (const [, value] of entries) if (typeof value === 'string') redactor.add(value)
  const bad: string[] = []
  for (const [field, value] of entries) {
    if (typeof value === 'string') values[field] = value
    else
      bad.push(
        `${field} is ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a map' : `a ${typeof value}`}`,
      )
  }
  // Every bad field in one error: a person fixes them all in one edit, not one per run.
  if (bad.length)
    throw new BootstrapError(
      `${file}: ${bad.length === 1 ? 'field' : 'fields'} ${bad.join(', ')}, not a string`,
      {
        hint: 'bootstrap secret files hold flat string values: quote numbers and booleans, flatten nested maps',
      },
    )
  return values
}
