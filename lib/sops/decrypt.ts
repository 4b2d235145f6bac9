import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { defaultSopsDeps, runSopsOn, type SopsDeps, type SopsRunOptions } from './binary.ts'
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
 */
export async function decryptDocument(
  file: string,
  options: DecryptOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<unknown> {
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
