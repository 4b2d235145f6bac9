import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { BootstrapError, errorMessage, lastLines, ProcessError } from './errors.ts'
import { run as defaultRun, type Run, type RunResult } from './exec.ts'
import { personalAgeKeyFile } from './paths.ts'
import { redactor } from './redact.ts'

/**
 * SOPS files of flat string values, through the real sops binary. Plaintext only ever
 * travels through pipes (stdin, stdout), never through a file; every decrypted value is
 * registered with the redactor before anyone sees it.
 */
export interface SopsDeps {
  run: Run
  env: NodeJS.ProcessEnv
}

const defaultDeps: SopsDeps = { run: defaultRun, env: process.env }

export interface DecryptOptions {
  /** The age key file sops reads; default: SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt. */
  ageKeyFile?: string
}

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

const TOOLS_HINT = 'run `just tools` to install every pinned tool, or `just doctor` to see what is missing'

export async function decrypt(
  file: string,
  options: DecryptOptions = {},
  deps: SopsDeps = defaultDeps,
): Promise<Record<string, string>> {
  const format = formatOf(file)
  const keyFile = options.ageKeyFile ?? personalAgeKeyFile(deps.env)
  assertExists(file)
  let stdout: string
  try {
    ;({ stdout } = await deps.run(
      'sops',
      ['--decrypt', '--input-type', format, '--output-type', 'json', file],
      {
        env: { ...deps.env, SOPS_AGE_KEY_FILE: keyFile },
        timeoutMs: 60_000,
      },
    ))
  } catch (error) {
    throw await explainFailure(error, file, keyFile, 'decrypt')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(stdout)
  } catch {
    // Never quote stdout: it is plaintext.
    throw new BootstrapError(`sops decrypted ${file} but its output is not JSON`)
  }
  return flatStrings(parsed, file)
}

export interface EncryptOptions {
  /** Where the ciphertext will live: sets the output format and matches .sops.yaml creation rules. */
  file: string
  /** age recipients (`age1…`) the file is encrypted to. */
  recipients: string[]
}

export async function encrypt(
  data: Record<string, string>,
  options: EncryptOptions,
  deps: SopsDeps = defaultDeps,
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
  let stdout: string
  try {
    stdout = await encryptYaml(stringifyYaml(data), { ...options, outputType: format }, deps)
  } catch (error) {
    throw await explainFailure(error, file, undefined, 'encrypt')
  }
  assertAllEncrypted(stdout, format, file)
  return stdout
}

/**
 * The one place plaintext meets sops: YAML on stdin, ciphertext on stdout. Errors are sops' own
 * (ProcessError, or BootstrapError 127 when sops is missing); callers explain them for their file.
 */
export async function encryptYaml(
  yaml: string,
  options: EncryptOptions & { outputType: SopsFormat; encryptedRegex?: string; cwd?: string },
  deps: SopsDeps = defaultDeps,
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
  const { stdout } = await deps.run('sops', args, {
    input: yaml,
    cwd: options.cwd,
    env: deps.env,
    timeoutMs: 60_000,
  })
  return stdout
}

/** Encrypts and writes `file` (beside it, then renamed: a crash leaves the old file, never half a new one). */
export async function writeEncrypted(
  file: string,
  data: Record<string, string>,
  recipients: string[],
  deps: SopsDeps = defaultDeps,
): Promise<void> {
  const ciphertext = await encrypt(data, { file, recipients }, deps)
  await mkdir(dirname(file), { recursive: true })
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(temp, ciphertext, { mode: 0o644 })
    await rename(temp, file)
  } finally {
    await rm(temp, { force: true })
  }
}

/** The age recipients a SOPS file is encrypted to, read from its metadata (no key needed). */
export async function recipientsOf(file: string): Promise<string[]> {
  const format = formatOf(file)
  assertExists(file)
  const text = await readFile(file, 'utf8')
  if (format === 'dotenv') {
    const lines = text.split('\n').filter((line) => line.startsWith('sops_'))
    if (lines.length === 0) throw notSops(file)
    return lines.flatMap((line) => {
      const match = /^sops_age__list_\d+__map_recipient=(.*)$/.exec(line.trim())
      return match?.[1] ? [match[1]] : []
    })
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch {
    throw notSops(file)
  }
  const meta = (doc as { sops?: { age?: unknown } } | null)?.sops
  if (!meta || typeof meta !== 'object') throw notSops(file)
  const ageKeys = Array.isArray(meta.age) ? meta.age : []
  return ageKeys.flatMap((entry: unknown) => {
    const recipient = (entry as { recipient?: unknown } | null)?.recipient
    return typeof recipient === 'string' ? [recipient] : []
  })
}

/**
 * `sops exec-env`: runs `command` with the file's values in its environment. The file is
 * decrypted here first as well: its values get registered with the redactor (the child's
 * output is masked with them) and a missing key fails with the same explained error.
 */
export async function execEnv(
  file: string,
  command: string[],
  options: DecryptOptions = {},
  deps: SopsDeps = defaultDeps,
): Promise<RunResult> {
  if (command.length === 0) throw new BootstrapError('sops exec-env: no command given')
  await decrypt(file, options, deps)
  const keyFile = options.ageKeyFile ?? personalAgeKeyFile(deps.env)
  try {
    const result = await deps.run('sops', ['exec-env', file, command.map(shellQuote).join(' ')], {
      env: { ...deps.env, SOPS_AGE_KEY_FILE: keyFile },
    })
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

function assertExists(file: string): void {
  if (!existsSync(file)) {
    throw new BootstrapError(`SOPS file ${file} does not exist`, {
      hint: 'check the environment name and the path; create it with the secrets step if this environment is new',
    })
  }
}

function notSops(file: string): BootstrapError {
  return new BootstrapError(`${file} is not a SOPS-encrypted file (no sops metadata) or is corrupt`, {
    hint: 'restore it from git; never edit the ciphertext by hand (use `sops <file>`)',
  })
}

/** Turns a failed sops run into an error that names the file and says what to do. */
async function explainFailure(
  error: unknown,
  file: string,
  keyFile: string | undefined,
  action: 'decrypt' | 'encrypt',
): Promise<Error> {
  if (error instanceof BootstrapError && error.exitCode === 127) {
    return new BootstrapError(`sops is not installed: cannot ${action} ${file}`, {
      hint: TOOLS_HINT,
      exitCode: 127,
      cause: error,
    })
  }
  if (!(error instanceof ProcessError)) return error instanceof Error ? error : new Error(String(error))
  // run already masked stderr with every registered value.
  const stderr = error.stderr
  if (action === 'decrypt' && (error.code === 128 || stderr.includes('Failed to get the data key'))) {
    let recipients: string
    try {
      const list = await recipientsOf(file)
      recipients = list.length > 0 ? list.join(', ') : 'no age recipients (other key types only)'
    } catch {
      recipients = 'recipients unreadable'
    }
    const keyState = keyFile && !existsSync(keyFile) ? ', which does not exist' : ''
    return new BootstrapError(
      `no available age key decrypts ${file}: it is encrypted to ${recipients}; key file tried: ${keyFile}${keyState} (SOPS_AGE_KEY_FILE)`,
      {
        hint: 'point SOPS_AGE_KEY_FILE at the key of one of those recipients, or have a holder of one add your key (`sops updatekeys`)',
        cause: error,
      },
    )
  }
  if (stderr.includes('sops metadata not found')) return notSops(file)
  if (/MAC|authentication failed|unmarshal|yaml:|invalid character|Error decrypting tree/i.test(stderr)) {
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
  return new BootstrapError(`sops could not ${action} ${file}: ${errorMessage(error)}`, { cause: error })
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

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}
