import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { writeFileAtomic } from '../core/atomic-file.ts'
import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { defaultSopsDeps, runSopsOn, type SopsDeps } from './binary.ts'
import { formatOf, type SopsFormat } from './file.ts'

/** Encrypting: the plaintext goes to sops on stdin, the ciphertext comes back on stdout. */

export interface EncryptOptions {
  /** Where the ciphertext will live: sets the output format and matches .sops.yaml creation rules. */
  file: string
  /** age recipients (`age1…`) the file is encrypted to. */
  recipients: string[]
}

/** A flat map of strings as the ciphertext of `options.file`; refused unless every field comes out encrypted. */
export async function encrypt(
  data: Record<string, string>,
  options: EncryptOptions,
  deps: SopsDeps = defaultSopsDeps,
): Promise<string> {
  const { file } = options
  const format = formatOf(file)
  for (const [field, value] of Object.entries(data)) {
    if (typeof value !== 'string')
      throw new BootstrapError(`field ${field} is a ${typeof value}, not a string`)
    if (field === 'sops' || field.startsWith('sops_')) {
      throw new BootstrapError(`field ${field} collides with the sops metadata key`)
    }
  }
  // Registered before sops runs, so sops' own stderr (run masks it) cannot echo a value.
  redactor.addAll(Object.values(data))
  const stdout = await encryptYaml(stringifyYaml(data), { ...options, outputType: format }, deps)
  assertAllEncrypted(stdout, format, file)
  return stdout
}

/** The one place plaintext meets sops: YAML on stdin, ciphertext on stdout; a failure is explained for `file`. */
export async function encryptYaml(
  yaml: string,
  options: EncryptOptions & { outputType: SopsFormat; encryptedRegex?: string; cwd?: string },
  deps: SopsDeps = defaultSopsDeps,
): Promise<string> {
  const { file, recipients } = options
  if (recipients.length === 0) throw new BootstrapError(`no age recipients given to encrypt ${file} to`)
  for (const recipient of recipients) {
    if (!/^age1[0-9a-z]+$/.test(recipient)) {
      throw new BootstrapError(`${JSON.stringify(recipient)} is not an age recipient (age1…)`)
    }
  }
  // `sops encrypt` with no file reads its stdin. Not `--encrypt /dev/stdin`: Node gives a
  // child a socket as stdin, and opening /dev/stdin on a socket fails (ENXIO).
  // --filename-override names the real path, for the output format and so .sops.yaml
  // creation rules match it (against "/dev/stdin" sops refuses: "no matching creation rules").
  const args = [
    'encrypt',
    '--input-type',
    'yaml',
    '--output-type',
    options.outputType,
    '--filename-override',
    file,
  ]
  args.push('--age', recipients.join(','))
  if (options.encryptedRegex) args.push('--encrypted-regex', options.encryptedRegex)
  const { stdout } = await runSopsOn(file, 'encrypt', args, { input: yaml, cwd: options.cwd }, deps)
  return stdout
}

/** Encrypts and writes `file` (beside it, then renamed: a crash leaves the old file, never half a new one). */
export async function writeEncrypted(
  file: string,
  data: Record<string, string>,
  recipients: string[],
  deps: SopsDeps = defaultSopsDeps,
): Promise<void> {
  await writeFileAtomic(file, await encrypt(data, { file, recipients }, deps), 0o644)
}

/** A .sops.yaml rule (encrypted_regex, unencrypted_suffix) can leave fields in clear text: refuse that output. */
function assertAllEncrypted(ciphertext: string, format: SopsFormat, file: string): void {
  let fields: [string, unknown][]
  if (format === 'dotenv') {
    fields = ciphertext
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#') && !line.startsWith('sops_'))
      .map((line) => {
        const at = line.indexOf('=')
        return [line.slice(0, at), line.slice(at + 1)]
      })
  } else {
    const doc = parseYaml(ciphertext) as Record<string, unknown>
    fields = Object.entries(doc).filter(([field]) => field !== 'sops')
  }
  const clear = fields
    .filter(([, value]) => !(typeof value === 'string' && value.startsWith('ENC[')))
    .map(([field]) => field)
  if (clear.length > 0) {
    throw new BootstrapError(
      `sops left ${clear.join(', ')} unencrypted in ${file}: refusing to write it (a .sops.yaml rule such as encrypted_regex or unencrypted_suffix applies)`,
      {
        hint: 'bootstrap secret files must encrypt every field: fix the creation rule for this path or rename the field',
      },
    )
  }
}
