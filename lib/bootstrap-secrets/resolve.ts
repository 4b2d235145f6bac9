import { readFile } from 'node:fs/promises'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { MIN_SECRET_LENGTH, redactor } from '../core/redact.ts'
import { isNetworkError } from '../core/request-failure.ts'
import { type BaoCall, type BaoResponse, errorsOf, nodeVaultCall } from '../openbao/client.ts'
import { decrypt as sopsDecrypt } from '../sops/index.ts'

/**
 * Bootstrap secrets from Vault/OpenBao with the SOPS file as fallback. The rules, each the
 * reason for a shape below:
 *   - per field, a Vault value is final; SOPS only fills the fields Vault lacks (a fallback run
 *     after the read would overwrite what Vault returned);
 *   - only the token is cleaned (quotes, whitespace); values are kept byte for byte (cleaning a
 *     PEM certificate breaks it);
 *   - the address is an explicit argument of one client, nothing is read from the ambient
 *     environment (an unexported VAULT_ADDR would mean localhost);
 *   - one read of one KV v2 path holds every field (a read per field needs mount metadata a
 *     scoped token may not see);
 *   - renew-self first, a failure only warns (a token stops at its max TTL).
 * An unreachable Vault must cost seconds, not hang the run: every call has a deadline.
 */
export type SecretSource = 'vault' | 'sops'

export interface VaultOptions {
  /** e.g. https://vault.example.ts.net:8200 */
  address: string
  /** The KV v2 API path, mount included: `secret/data/<cluster>/bootstrap`. */
  kvPath: string
  tokenFile: string
  /** Per request, and the budget for reachability; default 3000. */
  timeoutMs?: number
}

export interface ResolveOptions {
  vault?: VaultOptions
  sopsFile: string
  /** Fields that must resolve from one source or the other. */
  fields: string[]
  /** Fields taken when present; they never make the SOPS file get decrypted on their own. */
  optionalFields?: string[]
  /** Passed to sops decrypt; default SOPS_AGE_KEY_FILE / ~/.config/sops/age/keys.txt. */
  ageKeyFile?: string
}

export interface ResolvedSecrets {
  values: Record<string, string>
  /** Where each field came from: names only, never values. */
  sources: Record<string, SecretSource>
  warnings: string[]
}

export interface ResolveDeps {
  /** How to reach Vault/OpenBao at an address (default: the one client, lib/openbao/client.ts). */
  vaultCall?: (address: string, timeoutMs: number) => BaoCall
  /** Default: sops decrypt from lib/sops/index.ts. */
  decryptSops?: (file: string, options: { ageKeyFile?: string }) => Promise<Record<string, string>>
  log: { warn(message: string): void; detail(message: string): void }
}

export const DEFAULT_TIMEOUT_MS = 3000

export async function resolveBootstrapSecrets(
  options: ResolveOptions,
  deps: ResolveDeps,
): Promise<ResolvedSecrets> {
  const optional = (options.optionalFields ?? []).filter((field) => !options.fields.includes(field))
  const wanted = [...options.fields, ...optional]
  const values: Record<string, string> = {}
  const sources: Record<string, SecretSource> = {}
  const warnings: string[] = []
  const warn = (message: string) => {
    const masked = redactor.mask(message)
    warnings.push(masked)
    deps.log.warn(masked)
  }

  let vaultFields: Record<string, unknown> | undefined
  if (options.vault) {
    const outcome = await readVault(options.vault, deps, warn)
    if (outcome.ok) vaultFields = outcome.fields
    else warn(`${outcome.reason} — using ${options.sopsFile}`)
  }

  if (vaultFields) {
    for (const value of Object.values(vaultFields)) if (typeof value === 'string') redactor.add(value)
    for (const field of wanted) {
      const value = Object.hasOwn(vaultFields, field) ? vaultFields[field] : undefined
      if (typeof value === 'string' && value !== '') {
        values[field] = value
        sources[field] = 'vault'
      } else if (value !== undefined && value !== null && typeof value !== 'string') {
        warn(`vault field ${field} at ${options.vault?.kvPath} is a ${typeof value}, not a string: ignored`)
      }
    }
    const fromVault = Object.keys(values).length
    deps.log.detail(`vault: ${fromVault} of ${wanted.length} fields from ${options.vault?.kvPath}`)
  }

  const missingRequired = options.fields.filter((field) => !Object.hasOwn(values, field))
  if (missingRequired.length > 0) {
    if (vaultFields) {
      warn(
        `vault path ${options.vault?.kvPath} lacks ${missingRequired.join(', ')} — taking ${missingRequired.length === 1 ? 'it' : 'them'} from ${options.sopsFile}`,
      )
    }
    let fallback: Record<string, string>
    try {
      const decrypt = deps.decryptSops ?? sopsDecrypt
      fallback = await decrypt(options.sopsFile, { ageKeyFile: options.ageKeyFile })
    } catch (error) {
      throw new BootstrapError(
        `bootstrap secrets ${missingRequired.join(', ')} are not available: ${vaultWhere(options)}, and the SOPS fallback ${options.sopsFile} failed: ${redactor.mask(errorMessage(error))}`,
        { hint: error instanceof BootstrapError ? error.hint : undefined, cause: error },
      )
    }
    for (const value of Object.values(fallback)) redactor.add(value)
    for (const field of wanted) {
      // The Vault value is final: the fallback only fills what Vault did not give.
      if (Object.hasOwn(values, field)) continue
      const value = Object.hasOwn(fallback, field) ? fallback[field] : undefined
      if (typeof value === 'string' && value !== '') {
        values[field] = value
        sources[field] = 'sops'
      }
    }
    const fromSops = Object.values(sources).filter((s) => s === 'sops').length
    deps.log.detail(`sops: ${fromSops} of ${wanted.length} fields from ${options.sopsFile}`)
  }

  const stillMissing = options.fields.filter((field) => !Object.hasOwn(values, field))
  if (stillMissing.length > 0) {
    throw new BootstrapError(
      `bootstrap secrets missing: ${stillMissing.join(', ')} — in neither ${vaultWhere(options)} nor ${options.sopsFile}`,
      {
        hint: `add ${stillMissing.length === 1 ? 'it' : 'them'} to the Vault path or to the SOPS file (\`sops ${options.sopsFile}\`)`,
      },
    )
  }
  const unmasked = Object.entries(values).filter(([, value]) => value.trim().length < MIN_SECRET_LENGTH)
  if (unmasked.length)
    warn(
      `${unmasked.map(([field]) => field).join(', ')}: shorter than ${MIN_SECRET_LENGTH} characters, too short to mask without mangling ordinary words, so output does not mask ${unmasked.length === 1 ? 'it' : 'them'}`,
    )
  return { values, sources, warnings }
}

function vaultWhere(options: ResolveOptions): string {
  return options.vault
    ? `vault path ${options.vault.kvPath} at ${options.vault.address}`
    : 'vault (not configured)'
}

type VaultOutcome = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: string }

async function readVault(
  vault: VaultOptions,
  deps: ResolveDeps,
  warn: (message: string) => void,
): Promise<VaultOutcome> {
  const timeoutMs = vault.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const at = `vault at ${vault.address}`

  let raw: string
  try {
    raw = await readFile(vault.tokenFile, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? errorMessage(error)})`
    return { ok: false, reason: `${at} not used: token file ${vault.tokenFile} ${why}` }
  }
  const read = tokenFromFile(raw)
  if ('refused' in read)
    return { ok: false, reason: `${at} not used: token file ${vault.tokenFile} ${read.refused}` }
  const { token } = read
  if (!redactor.add(token))
    warn(
      `the token in ${vault.tokenFile} is ${token.length} characters long — a dev server's root token? Too short to mask without mangling ordinary words, so output does not mask it: use a scoped token`,
    )

  const call = (deps.vaultCall ?? nodeVaultCall)(vault.address, timeoutMs)
  const ask = (method: 'GET' | 'POST', path: string) =>
    withDeadline(call({ method, path, token, ...(method === 'POST' ? { body: {} } : {}) }), timeoutMs).then(
      (answer) => ({ answer }),
      (error: unknown) => ({ error }),
    )

  const renewed = await ask('POST', 'auth/token/renew-self')
  const renewFailure = failureOf(renewed, timeoutMs)
  if (renewFailure) {
    // No answer, no TLS, or sealed: the read would fail the same way; fall back now, not after a second timeout.
    if (
      renewFailure.kind === 'unreachable' ||
      renewFailure.kind === 'tls' ||
      renewFailure.kind === 'sealed'
    ) {
      return { ok: false, reason: connectionReason(at, renewFailure) }
    }
    warn(`${at}: token renew-self failed (${renewFailure.detail}); continuing with the token as it is`)
  }

  const kv = await ask('GET', vault.kvPath.replace(/^\/+/, ''))
  const failure = failureOf(kv, timeoutMs)
  const response = 'answer' in kv ? kv.answer.body : undefined
  if (failure) {
    switch (failure.kind) {
      case 'unreachable':
      case 'tls':
      case 'sealed':
        return { ok: false, reason: connectionReason(at, failure) }
      case 'forbidden':
        return {
          ok: false,
          reason: `${at} denied the token from ${vault.tokenFile} reading ${vault.kvPath} (403 ${failure.detail}: ${
            looksLikeToken(token)
              ? 'expired, revoked, or its policy lacks read on that path'
              : `the file's content does not look like a Vault/OpenBao token (they start hvs., s., b. or r.): check ${vault.tokenFile} holds the token itself; else it is expired, revoked, or lacks a policy for the path`
          })`,
        }
      case 'not-found':
        return { ok: false, reason: `${at} has no secret at ${vault.kvPath} (404)` }
      default:
        return { ok: false, reason: `${at} failed reading ${vault.kvPath} (${failure.detail})` }
    }
  }
  // KV v2: the fields are in data.data; data.metadata describes the version.
  const fields = (response as { data?: { data?: unknown } } | undefined)?.data?.data
  if (!fields || typeof fields !== 'object' || Array.isArray(fields)) {
    return {
      ok: false,
      reason: `${at} returned no KV v2 data at ${vault.kvPath} (is it a KV v2 path: <mount>/data/…?)`,
    }
  }
  return { ok: true, fields: fields as Record<string, unknown> }
}

function connectionReason(at: string, failure: Failure): string {
  if (failure.kind === 'sealed') return `${at} is sealed`
  if (failure.kind === 'tls') return `${at} failed TLS (${failure.detail})`
  return `${at} unreachable (${failure.detail})`
}

/**
 * Token files get written by hand, by `echo`, by password managers, or copied from a shell
 * profile. Taken: the token alone, with whitespace and quotes around it stripped, or one line
 * `VAULT_TOKEN=<token>` / `BAO_TOKEN=<token>`, `export ` in front allowed. Anything else is
 * refused with the shapes it may have: sending it as a token would only earn a 403 that blames
 * the token. Only the token is cleaned: values are never touched.
 */
export function tokenFromFile(raw: string): { token: string } | { refused: string } {
  const lines = raw.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'))
  if (lines.length === 0) return { refused: 'is empty' }
  const shapes = 'the token alone, or one line VAULT_TOKEN=<token> (BAO_TOKEN=, `export ` allowed)'
  if (lines.length > 1) return { refused: `holds ${lines.length} lines: it must hold ${shapes}` }
  const line = (lines[0] as string).trim()
  const assignment = /^(?:export\s+)?(VAULT_TOKEN|BAO_TOKEN)\s*=\s*(.*)$/.exec(line)
  const token = cleanToken(assignment ? (assignment[2] as string) : line)
  if (!token) return { refused: 'is empty' }
  if (/[\s=]/.test(token)) {
    const what = /^\w+=/.test(line)
      ? `an assignment to ${line.slice(0, line.indexOf('='))}`
      : 'more than a token'
    return { refused: `holds ${what}: it must hold ${shapes}` }
  }
  return { token }
}

function cleanToken(raw: string): string {
  return raw.replace(/^[\s'"]+|[\s'"]+$/g, '')
}

/** Vault and OpenBao tokens carry a type prefix (hvs./hvb./hvr. on Vault, s./b./r. on older Vault and OpenBao). */
function looksLikeToken(token: string): boolean {
  return /^(hv[sbr]|[sbr])\.[\w.-]+$/.test(token) || token === 'root'
}

type Failure = {
  kind: 'unreachable' | 'tls' | 'sealed' | 'forbidden' | 'not-found' | 'other'
  detail: string
}

class DeadlineError extends Error {}

/** The axios timeout covers a silent socket; this covers everything else (DNS, TLS, a stalled body). */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** What went wrong with a call, if anything: an answer with an error status, or no answer at all. */
function failureOf(
  outcome: { answer: BaoResponse } | { error: unknown },
  timeoutMs: number,
): Failure | undefined {
  if ('error' in outcome) return classify(outcome.error, timeoutMs)
  const { status, body } = outcome.answer
  if (status < 400) return undefined
  const said = errorsOf(body, oneLine)
  const detail = redactor.mask(said || `status ${status}`)
  if (status === 503 && /sealed/i.test(said)) return { kind: 'sealed', detail }
  if (status === 403) return { kind: 'forbidden', detail }
  if (status === 404) return { kind: 'not-found', detail }
  return { kind: 'other', detail: `${status} ${detail}` }
}

/** A call that got no answer. */
function classify(error: unknown, timeoutMs: number): Failure {
  if (error instanceof DeadlineError) return { kind: 'unreachable', detail: error.message }
  const e = error as { code?: string; message?: string }
  const code = e.code ?? ''
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '')) {
    return { kind: 'unreachable', detail: `no answer within ${timeoutMs} ms` }
  }
  if (isNetworkError(error)) {
    // Node 20 reports a refused dual-stack connect as an AggregateError with an empty message.
    const detail = code === 'ECONNREFUSED' ? 'connect ECONNREFUSED' : e.message || code
    return { kind: 'unreachable', detail: redactor.mask(detail) }
  }
  if (/certificate|self.signed|TLS|SSL/i.test(`${code} ${e.message}`)) {
    return { kind: 'tls', detail: redactor.mask(e.message || code) }
  }
  return { kind: 'other', detail: redactor.mask(e.message || code || String(error)) }
}

/** Vault wraps some errors as "1 error occurred:\n\t* permission denied\n\n": keep the items, on one line. */
function oneLine(said: unknown): string {
  const text = String(said)
  const items = [...text.matchAll(/^\s*\*\s*(.+)$/gm)].map((match) => match[1]?.trim())
  return (items.length > 0 ? items.join('; ') : text).replace(/\s+/g, ' ').trim()
}
