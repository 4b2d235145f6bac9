import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import nodeVault from 'node-vault'
import type { OpenBaoAppConfig } from './config.ts'
import { BootstrapError, errorMessage } from './errors.ts'
import {
  ADMIN_POLICY,
  adminPolicy,
  appPolicy,
  appRole,
  IN_CLUSTER_HOST,
  KUBERNETES_AUTH_MOUNT,
  type KubernetesTarget,
  KV_MOUNT,
  kubernetesAuthConfig,
  RESERVED_POLICY_NAMES,
  sameKubernetesAuthConfig,
  samePolicy,
  sameRole,
} from './openbao-policy.ts'
import type { OpenBaoEndpoint } from './providers/provider.ts'
import { redactor } from './redact.ts'
import { decrypt, encrypt, recipientsOf, type SopsDeps, writeEncrypted } from './sops.ts'

/**
 * `openbao-setup` (seed 002, runtime tier): initialise OpenBao, keep an admin token instead of
 * the root token, KV v2 at secret/, kubernetes auth, a read-only policy and a role per app,
 * and each app's initial secrets. Every part reads first and writes only what is missing or
 * different, so a second run sends no write at all. Existing secret values are never
 * overwritten (some can never change); only `--rotate <app>/<field>` replaces one.
 *
 * What OpenBao cannot keep across a destroy of a kind cluster lives in the init file,
 * SOPS-encrypted: the recovery keys, the admin token, and every value setup generated, so a
 * recreated OpenBao gets the same values again.
 */

// ---------------------------------------------------------------------------------------------
// HTTP: one call shape, node-vault underneath; tests pass a recording fake.

export type BaoMethod = 'GET' | 'POST' | 'PUT'
export interface BaoRequest {
  method: BaoMethod
  /** API path without /v1/, e.g. `sys/mounts`. */
  path: string
  body?: Record<string, unknown>
  /** '' for unauthenticated calls (seal-status, init). */
  token: string
}
export interface BaoResponse {
  status: number
  body: unknown
}
/** Resolves with any HTTP status; rejects only when there is no answer (network, timeout). */
export type BaoCall = (request: BaoRequest) => Promise<BaoResponse>

export const REQUEST_TIMEOUT_MS = 10_000

/** node-vault 0.12's generic `request`: its typed helpers filter bodies by outdated schemas (init drops recovery_shares). */
export function nodeVaultCall(address: string, timeoutMs = REQUEST_TIMEOUT_MS): BaoCall {
  const client = nodeVault({ apiVersion: 'v1', endpoint: address })
  // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE / VAULT_PREFIX for any falsy option:
  // pinned here, so nothing in the caller's environment redirects or authenticates a call.
  client.token = ''
  Object.assign(client, { namespace: '', pathPrefix: '' })
  return async ({ method, path, body, token }) => {
    try {
      const result: unknown = await client.request({
        method,
        path: `/${path}`,
        json: body,
        headers: token ? { 'X-Vault-Token': token } : {},
        timeout: timeoutMs,
      })
      return result === '' || result === undefined
        ? { status: 204, body: undefined }
        : { status: 200, body: result }
    } catch (error) {
      const response = (error as { response?: { statusCode?: unknown; body?: unknown } }).response
      if (typeof response?.statusCode === 'number')
        return { status: response.statusCode, body: response.body }
      throw error
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The init file: flat string values (lib/sops), SOPS-encrypted to the personal and cluster keys.

/** Keys of the init file. Per-initialisation keys are replaced on a re-init; `generated__*` never are. */
export const INIT_KEYS = {
  initializedAt: 'initialized_at',
  /** Only between initialisation and its revocation (a run that stopped in between resumes with it). */
  rootToken: 'root_token',
  rootRevokedAt: 'root_token_revoked_at',
  adminToken: 'admin_token',
  adminAccessor: 'admin_token_accessor',
  recoveryThreshold: 'recovery_threshold',
  unsealThreshold: 'unseal_threshold',
  recoveryKey: (n: number) => `recovery_key_${n}`,
  unsealKey: (n: number) => `unseal_key_${n}`,
} as const

const GENERATED_PREFIX = 'generated__'

/** `generated__<app>__<field>`: app names are DNS labels (no `_`), so the first `__` after the prefix splits it. */
export function generatedKey(app: string, field: string): string {
  return `${GENERATED_PREFIX}${app}__${field}`
}

export interface InitStore {
  /** The file's values; undefined when there is no file yet. */
  read(): Promise<Record<string, string> | undefined>
  write(values: Record<string, string>): Promise<void>
  /** Fails now if a write would fail later: before initialisation, whose output exists only once. */
  preflight(): Promise<void>
}

/** The init file through the real sops: plaintext only in pipes; recipients those of `recipientsFrom`. */
export function sopsInitStore(file: string, recipientsFrom: string, deps?: SopsDeps): InitStore {
  return {
    read: async () => (existsSync(file) ? decrypt(file, {}, deps) : undefined),
    write: async (values) => writeEncrypted(file, values, await recipientsOf(recipientsFrom), deps),
    preflight: async () => {
      await encrypt({ preflight: 'ok' }, { file, recipients: await recipientsOf(recipientsFrom) }, deps)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// --rotate <app>/<field>

export interface Rotation {
  app: string
  field: string
}

export function parseRotations(specs: string[], apps: OpenBaoAppConfig[]): Rotation[] {
  const known = apps.flatMap((app) => Object.keys(app.secrets).map((field) => `${app.name}/${field}`))
  const hint = known.length ? `configured secrets: ${known.join(', ')}` : 'no app in openbao.apps has secrets'
  const rotations: Rotation[] = []
  for (const spec of specs) {
    const slash = spec.indexOf('/')
    if (slash <= 0 || slash === spec.length - 1) {
      throw new BootstrapError(`--rotate ${JSON.stringify(spec)}: expected <app>/<field>`, {
        hint,
        exitCode: 2,
      })
    }
    const name = spec.slice(0, slash)
    const field = spec.slice(slash + 1)
    const app = apps.find((a) => a.name === name)
    if (!app)
      throw new BootstrapError(`--rotate ${spec}: no app "${name}" in openbao.apps`, { hint, exitCode: 2 })
    if (!(field in app.secrets)) {
      throw new BootstrapError(`--rotate ${spec}: app ${name} has no secret field "${field}"`, {
        hint,
        exitCode: 2,
      })
    }
    if (!rotations.some((r) => r.app === name && r.field === field)) rotations.push({ app: name, field })
  }
  return rotations
}

// ---------------------------------------------------------------------------------------------
// What a run did: names and outcomes, never a value.

export type Outcome = 'created' | 'updated' | 'replaced' | 'unchanged' | 'kept' | 'skipped'

export interface ReportEntry {
  subject: string
  outcome: Outcome
  note?: string
}

export interface SetupReport {
  dryRun: boolean
  entries: ReportEntry[]
  /** Requests other than GET sent to OpenBao (0 on a run with nothing to do). */
  writes: number
  /** Times the init file was written. */
  initFileWrites: number
}

const CHANGES: Outcome[] = ['created', 'updated', 'replaced']

export function formatEntry(entry: ReportEntry, dryRun: boolean): string {
  const verb = dryRun && CHANGES.includes(entry.outcome) ? `would be ${entry.outcome}` : entry.outcome
  return `${entry.subject}: ${verb}${entry.note ? ` (${entry.note})` : ''}`
}

/** The closing tally: what was created or changed, what already was, what was skipped. */
export function summaryLines(report: SetupReport): string[] {
  const count = (outcomes: Outcome[]) => report.entries.filter((e) => outcomes.includes(e.outcome)).length
  const changed = count(CHANGES)
  const lines = [
    `${report.dryRun ? 'would change' : 'changed'} ${changed}, already in place ${count(['unchanged', 'kept'])}, skipped ${count(['skipped'])}`,
  ]
  if (!report.dryRun) {
    lines.push(
      `${report.writes} write request${report.writes === 1 ? '' : 's'} to OpenBao, init file written ${report.initFileWrites} time${report.initFileWrites === 1 ? '' : 's'}`,
    )
  }
  return lines
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface SetupOptions {
  address: string
  kubernetes: KubernetesTarget
  /** The init file as configured (openbao.initFile): named in messages. */
  initFile: string
  apps: OpenBaoAppConfig[]
  rotate: Rotation[]
  dryRun: boolean
  /** Bootstrap secrets, asked for only when a `fromField` value has to be written. */
  bootstrapValues(): Promise<Record<string, string>>
  /** How long OpenBao may take to answer, and to unseal itself; default 60 s. */
  waitMs?: number
}

export interface SetupDeps {
  call: BaoCall
  initStore: InitStore
  /** A random secret of exactly `length` characters. */
  randomSecret(length: number): string
  sleep(ms: number): Promise<void>
  now(): number
  /** Each entry as it happens (the step prints them; the tally follows at the end). */
  onEntry(line: string): void
}

export function defaultSetupDeps(options: {
  address: string
  initFile: string
  recipientsFrom: string
  onEntry: (line: string) => void
}): SetupDeps {
  return {
    call: nodeVaultCall(options.address),
    initStore: sopsInitStore(options.initFile, options.recipientsFrom),
    randomSecret,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    onEntry: options.onEntry,
  }
}

/** What the endpoint says about the cluster, with the in-cluster defaults. */
export function kubernetesTargetOf(endpoint: OpenBaoEndpoint): KubernetesTarget {
  return { host: endpoint.kubernetesHost ?? IN_CLUSTER_HOST, caCert: endpoint.kubernetesCaCert }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Letters and digits only: safe in env files, URLs and config templates. Rejection sampling keeps it uniform. */
export function randomSecret(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62]
    }
  }
  return out
}

/** Periodic: renewed by every run in the second half of its period, it never expires while setup runs monthly. */
export const ADMIN_TOKEN_PERIOD = '768h'

export async function setupOpenBao(options: SetupOptions, deps: SetupDeps): Promise<SetupReport> {
  for (const app of options.apps) {
    if ((RESERVED_POLICY_NAMES as readonly string[]).includes(app.name)) {
      throw new BootstrapError(
        `openbao.apps: an app may not be named "${app.name}": that policy name is OpenBao's or setup's own`,
        { exitCode: 2 },
      )
    }
  }
  const run = new Run(options, deps)
  const status = await run.waitForAnswer()
  await run.loadInitFile()
  if (!status.initialized) {
    if (options.dryRun) await run.assumeFresh()
    else await run.initialise(status)
  } else {
    await run.ensureUnsealed(status)
    await run.authenticate()
  }
  await run.ensureKvV2()
  await run.ensureKubernetesAuth()
  for (const app of options.apps) {
    await run.ensurePolicy(app.name, appPolicy(app), `policy ${app.name}`)
    await run.ensureRole(app)
  }
  await run.ensureSecrets()
  return run.report
}

interface SealStatus {
  initialized: boolean
  sealed: boolean
  type?: string
  recovery_seal?: boolean
}

interface KvState {
  /** 0 when the path never existed: cas 0 then means "only if still absent". */
  version: number
  data: Record<string, unknown> | undefined
}

/** One run: the OpenBao session, the init file's values, the report. */
class Run {
  readonly report: SetupReport
  private token = ''
  private tokenSource = 'no token'
  /** Dry run against an uninitialised OpenBao: every read answers as an empty one would. */
  private fresh = false
  private file: Record<string, string> = {}
  private fileExists = false
  private fileDirty = false
  private readonly waitMs: number

  constructor(
    private readonly options: SetupOptions,
    private readonly deps: SetupDeps,
  ) {
    this.report = { dryRun: options.dryRun, entries: [], writes: 0, initFileWrites: 0 }
    this.waitMs = options.waitMs ?? 60_000
  }

  // --- reaching OpenBao -------------------------------------------------------------------

  async waitForAnswer(): Promise<SealStatus> {
    const deadline = this.deps.now() + this.waitMs
    let last = 'no answer'
    for (;;) {
      try {
        const response = await this.deps.call({ method: 'GET', path: 'sys/seal-status', token: '' })
        if (response.status === 200 && isSealStatus(response.body)) return response.body
        last = `answered ${response.status} to sys/seal-status`
      } catch (error) {
        last = networkDetail(error)
      }
      if (this.deps.now() >= deadline) {
        throw new BootstrapError(
          `OpenBao at ${this.options.address} did not answer within ${Math.round(this.waitMs / 1000)} s (${last})`,
          {
            hint: 'is OpenBao running and listening there? kind/existing: `kubectl -n openbao get pods` (the openbao Application must be Healthy); local: `just create local` starts it',
          },
        )
      }
      await this.deps.sleep(500)
    }
  }

  async ensureUnsealed(status: SealStatus): Promise<void> {
    if (!status.sealed) return
    const keys = Object.keys(this.file)
      .filter((key) => key.startsWith('unseal_key_'))
      .sort()
      .map((key) => this.file[key] as string)
    if (!isAutoUnseal(status) && keys.length > 0) {
      if (this.options.dryRun) {
        throw new BootstrapError(`OpenBao at ${this.options.address} is sealed: a dry run cannot read it`, {
          hint: 'run without --dry-run to unseal it with the unseal keys in the init file',
        })
      }
      for (const key of keys) {
        const response = await this.send('PUT', 'sys/unseal', { key }, '')
        if (response.status !== 200) throw this.failure(response, 'unseal with the keys in the init file')
        if ((response.body as { sealed?: boolean }).sealed === false) break
      }
      this.entry('OpenBao seal', 'updated', `unsealed with the unseal keys in ${this.options.initFile}`)
    }
    await this.waitUnsealed(status)
  }

  private async waitUnsealed(status: SealStatus): Promise<void> {
    const deadline = this.deps.now() + this.waitMs
    for (;;) {
      const response = await this.send('GET', 'sys/seal-status', undefined, '')
      if (isSealStatus(response.body) && !response.body.sealed) return
      if (this.deps.now() >= deadline) {
        throw new BootstrapError(
          `OpenBao at ${this.options.address} is still sealed after ${Math.round(this.waitMs / 1000)} s`,
          {
            hint: isAutoUnseal(status)
              ? `its ${status.type ?? 'auto'} seal did not unseal it: check that its key is mounted (Secret openbao-unseal-key) and the server log`
              : `unseal it with the unseal keys in ${this.options.initFile} (\`bao operator unseal\`)`,
          },
        )
      }
      await this.deps.sleep(500)
    }
  }

  // --- the init file ----------------------------------------------------------------------

  async loadInitFile(): Promise<void> {
    const values = await this.deps.initStore.read()
    this.fileExists = values !== undefined
    this.file = { ...(values ?? {}) }
    redactor.addAll(Object.values(this.file))
  }

  private setFile(key: string, value: string | undefined): void {
    if (this.file[key] === value) return
    if (value === undefined) delete this.file[key]
    else {
      redactor.add(value)
      this.file[key] = value
    }
    this.fileDirty = true
  }

  private async saveFile(): Promise<void> {
    if (!this.fileDirty || this.options.dryRun) return
    await this.deps.initStore.write({ ...this.file })
    this.report.initFileWrites++
    this.fileExists = true
    this.fileDirty = false
  }

  // --- initialisation and the token -------------------------------------------------------

  async assumeFresh(): Promise<void> {
    this.fresh = true
    this.entry(
      'OpenBao',
      'created',
      `initialised; recovery keys and root token stored encrypted in ${this.options.initFile}`,
    )
    await this.replaceAdminToken('')
  }

  async initialise(status: SealStatus): Promise<void> {
    // Initialisation's output exists once: make sure it can be stored before asking for it.
    await this.deps.initStore.preflight()
    // One share: the init file is the one place the keys are kept, so more shares would not be split among people.
    const shares = 1
    const body = isAutoUnseal(status)
      ? { recovery_shares: shares, recovery_threshold: shares }
      : { secret_shares: shares, secret_threshold: shares }
    const response = await this.send('PUT', 'sys/init', body, '')
    if (response.status !== 200) throw this.failure(response, 'initialise OpenBao')
    const init = response.body as {
      root_token?: string
      keys?: string[]
      keys_base64?: string[]
      recovery_keys?: string[]
      recovery_keys_base64?: string[]
    }
    const rootToken = init.root_token ?? ''
    redactor.addAll([
      rootToken,
      ...(init.keys ?? []),
      ...(init.keys_base64 ?? []),
      ...(init.recovery_keys ?? []),
      ...(init.recovery_keys_base64 ?? []),
    ])
    if (!rootToken)
      throw new BootstrapError(
        `OpenBao at ${this.options.address} was initialised but returned no root token`,
      )

    const earlier = Object.keys(this.file).filter((key) => !key.startsWith(GENERATED_PREFIX))
    if (earlier.length > 0) {
      this.deps.onEntry(
        `init file ${this.options.initFile}: replacing the keys and token of an earlier OpenBao (the old ones are in git history); generated values are kept`,
      )
    }
    for (const key of earlier) this.setFile(key, undefined)
    this.setFile(INIT_KEYS.initializedAt, new Date(this.deps.now()).toISOString())
    this.setFile(INIT_KEYS.rootToken, rootToken)
    // Base64, the form `bao operator init` prints and `bao operator generate-root` / `unseal` take.
    const recoveryKeys = init.recovery_keys_base64 ?? init.recovery_keys ?? []
    const unsealKeys = init.keys_base64 ?? init.keys ?? []
    for (const [i, key] of recoveryKeys.entries()) this.setFile(INIT_KEYS.recoveryKey(i + 1), key)
    for (const [i, key] of unsealKeys.entries()) this.setFile(INIT_KEYS.unsealKey(i + 1), key)
    if (recoveryKeys.length) this.setFile(INIT_KEYS.recoveryThreshold, String(shares))
    if (unsealKeys.length) this.setFile(INIT_KEYS.unsealThreshold, String(shares))
    await this.saveFile()
    this.entry(
      'OpenBao',
      'created',
      `initialised; ${recoveryKeys.length ? `${recoveryKeys.length} recovery key` : `${unsealKeys.length} unseal key`} and the root token stored encrypted in ${this.options.initFile}`,
    )
    if (unsealKeys.length) await this.ensureUnsealed({ ...status, initialized: true, sealed: true })
    else await this.waitUnsealed(status)
    this.useToken(rootToken, 'the root token from initialisation')
    await this.replaceAdminToken(rootToken)
  }

  /** Uses the stored admin token; falls back to a stored root token (an interrupted first run, or a recovery). */
  async authenticate(): Promise<void> {
    const initFile = this.options.initFile
    if (!this.fileExists) {
      throw new BootstrapError(
        `OpenBao at ${this.options.address} is initialised, but the init file ${initFile} does not exist: setup has no token for it`,
        {
          hint: recoveryHint(initFile, 'restore the file from git if it was committed; otherwise'),
        },
      )
    }
    const admin = this.file[INIT_KEYS.adminToken]
    const root = this.file[INIT_KEYS.rootToken]
    const adminLookup = admin ? await this.lookup(admin) : undefined
    if (admin && adminLookup) {
      this.useToken(admin, `the admin token in ${initFile}`)
      await this.ensurePolicy(ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
      await this.renewIfDue(adminLookup)
      if (root) await this.revokeRoot(root)
      return
    }
    if (root && (await this.lookup(root))) {
      this.useToken(root, `the root token in ${initFile}`)
      if (admin)
        this.deps.onEntry(
          `the admin token in ${initFile} was rejected: making a new one with the root token stored there`,
        )
      await this.replaceAdminToken(root)
      return
    }
    const at = `OpenBao at ${this.options.address}`
    const why = admin
      ? `${at} rejected the admin token in ${initFile} (403: expired, revoked, or from another OpenBao)`
      : root
        ? `${at} rejected the root token in ${initFile}, which holds no admin token`
        : `${initFile} holds no token for ${at}`
    throw new BootstrapError(why, { hint: recoveryHint(initFile) })
  }

  /** The token's lookup data when OpenBao accepts it; undefined when it answers 403. */
  private async lookup(token: string): Promise<{ ttl?: number; period?: number } | undefined> {
    const response = await this.send('GET', 'auth/token/lookup-self', undefined, token)
    if (response.status === 403) return undefined
    if (response.status !== 200) throw this.failure(response, 'look up its token')
    return dataOf(response.body) ?? {}
  }

  private async renewIfDue(lookup: { ttl?: number; period?: number }): Promise<void> {
    const { ttl = 0, period = 0 } = lookup
    if (period <= 0 || ttl >= period / 2) {
      this.entry(
        'admin token',
        'unchanged',
        `valid for ${Math.round(ttl / 86400)} more days; renewed by a run after half its period`,
      )
      return
    }
    await this.change('admin token', 'updated', `renewed for ${Math.round(period / 86400)} days`, () =>
      this.must('POST', 'auth/token/renew-self', {}, 'renew its token'),
    )
  }

  /** With the root token in use: the admin policy, a new orphan admin token stored in the init file, then the root token revoked. */
  private async replaceAdminToken(root: string): Promise<void> {
    await this.ensurePolicy(ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
    if (this.options.dryRun) {
      this.entry('admin token', 'created', `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}`)
      await this.revokeRoot(root)
      return
    }
    // An orphan: revoking the root token revokes its children, and this one must outlive it.
    const body = await this.must(
      'POST',
      'auth/token/create',
      {
        policies: [ADMIN_POLICY],
        no_default_policy: true,
        no_parent: true,
        period: ADMIN_TOKEN_PERIOD,
        renewable: true,
        display_name: 'platform-bootstrap',
      },
      'create the admin token',
    )
    const auth = (body as { auth?: { client_token?: string; accessor?: string } }).auth
    const token = auth?.client_token ?? ''
    if (!token) throw new BootstrapError(`OpenBao at ${this.options.address} created no admin token`)
    redactor.add(token)
    this.setFile(INIT_KEYS.adminToken, token)
    this.setFile(INIT_KEYS.adminAccessor, auth?.accessor ?? '')
    // Stored before the root token goes: a stop in between leaves a file with both, never with neither.
    await this.saveFile()
    this.entry(
      'admin token',
      'created',
      `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}, stored encrypted in ${this.options.initFile}`,
    )
    this.useToken(token, `the admin token in ${this.options.initFile}`)
    await this.revokeRoot(root)
  }

  private async revokeRoot(root: string): Promise<void> {
    if (this.options.dryRun) {
      this.entry('root token', 'updated', `revoked and removed from ${this.options.initFile}`)
      return
    }
    const response = await this.send('POST', 'auth/token/revoke-self', {}, root)
    // 403: it no longer works (revoked or expired): the same end.
    if (response.status !== 204 && response.status !== 200 && response.status !== 403)
      throw this.failure(response, 'revoke the root token')
    this.setFile(INIT_KEYS.rootToken, undefined)
    this.setFile(INIT_KEYS.rootRevokedAt, new Date(this.deps.now()).toISOString())
    await this.saveFile()
    this.entry(
      'root token',
      'updated',
      `revoked and removed from ${this.options.initFile}; \`bao operator generate-root\` with the recovery keys makes a new one`,
    )
  }

  private useToken(token: string, source: string): void {
    redactor.add(token)
    this.token = token
    this.tokenSource = source
  }

  // --- configuration ----------------------------------------------------------------------

  async ensureKvV2(): Promise<void> {
    const subject = `secrets engine ${KV_MOUNT}/`
    const mounts = (await this.read('sys/mounts')) ?? {}
    const mount = mounts[`${KV_MOUNT}/`] as
      | { type?: string; options?: { version?: string } | null }
      | undefined
    if (!mount) {
      await this.change(subject, 'created', 'KV v2', () =>
        this.must(
          'POST',
          `sys/mounts/${KV_MOUNT}`,
          { type: 'kv', options: { version: '2' }, description: 'runtime secrets (platform-bootstrap)' },
          `enable KV v2 at ${KV_MOUNT}/`,
        ),
      )
      return
    }
    if (mount.type === 'kv' && mount.options?.version === '2') {
      this.entry(subject, 'unchanged', 'KV v2')
      return
    }
    throw new BootstrapError(
      `OpenBao at ${this.options.address} has ${KV_MOUNT}/ mounted as ${mount.type ?? 'unknown'}${mount.options?.version ? ` v${mount.options.version}` : ''}, not KV v2`,
      {
        hint: `setup never remounts it (that would lose its data): move its data and disable it (\`bao secrets disable ${KV_MOUNT}\`), then run setup again`,
      },
    )
  }

  async ensureKubernetesAuth(): Promise<void> {
    const subject = `auth method ${KUBERNETES_AUTH_MOUNT}/`
    const auths = (await this.read('sys/auth')) ?? {}
    const method = auths[`${KUBERNETES_AUTH_MOUNT}/`] as { type?: string } | undefined
    if (!method) {
      await this.change(subject, 'created', undefined, () =>
        this.must(
          'POST',
          `sys/auth/${KUBERNETES_AUTH_MOUNT}`,
          { type: 'kubernetes', description: 'ServiceAccounts of the platform apps (platform-bootstrap)' },
          'enable kubernetes auth',
        ),
      )
    } else if (method.type !== 'kubernetes') {
      throw new BootstrapError(
        `OpenBao at ${this.options.address} has ${KUBERNETES_AUTH_MOUNT}/ enabled as a ${method.type} auth method, not kubernetes`,
        {
          hint: `setup never replaces it: disable it (\`bao auth disable ${KUBERNETES_AUTH_MOUNT}\`) if it is not in use, then run setup again`,
        },
      )
    } else {
      this.entry(subject, 'unchanged')
    }
    const desired = kubernetesAuthConfig(this.options.kubernetes)
    const current = method ? await this.read(`auth/${KUBERNETES_AUTH_MOUNT}/config`) : undefined
    const note = `host ${desired.kubernetes_host}${desired.kubernetes_ca_cert ? ', with its CA' : ''}${desired.disable_local_ca_jwt ? ', OpenBao outside the cluster' : ''}`
    if (sameKubernetesAuthConfig(current, desired)) {
      this.entry('kubernetes auth config', 'unchanged', note)
      return
    }
    await this.change('kubernetes auth config', current ? 'updated' : 'created', note, () =>
      this.must('POST', `auth/${KUBERNETES_AUTH_MOUNT}/config`, { ...desired }, 'configure kubernetes auth'),
    )
  }

  async ensurePolicy(name: string, policy: string, subject: string): Promise<void> {
    const current = await this.read(`sys/policies/acl/${name}`)
    const text = typeof current?.policy === 'string' ? current.policy : undefined
    if (samePolicy(text, policy)) {
      this.entry(subject, 'unchanged')
      return
    }
    await this.change(subject, current ? 'updated' : 'created', undefined, () =>
      this.must('PUT', `sys/policies/acl/${name}`, { policy }, `write policy ${name}`),
    )
  }

  async ensureRole(app: OpenBaoAppConfig): Promise<void> {
    const subject = `kubernetes role ${app.name}`
    const desired = appRole(app)
    const note = `ServiceAccount ${app.namespace}/${app.serviceAccount}, policy ${app.name}`
    const current = await this.read(`auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`)
    if (sameRole(current, desired)) {
      this.entry(subject, 'unchanged', note)
      return
    }
    await this.change(subject, current ? 'updated' : 'created', note, () =>
      this.must(
        'POST',
        `auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`,
        { ...desired },
        `write role ${app.name}`,
      ),
    )
  }

  // --- secrets ----------------------------------------------------------------------------

  async ensureSecrets(): Promise<void> {
    const rotating = (app: string, field: string) =>
      this.options.rotate.some((r) => r.app === app && r.field === field)
    let bootstrap: Record<string, string> | undefined
    const bootstrapValue = async (field: string): Promise<string> => {
      bootstrap ??= await this.options.bootstrapValues()
      const value = bootstrap[field]
      if (value === undefined || value === '') {
        throw new BootstrapError(`bootstrap secret field ${field} has no value`, {
          hint: 'add it to the bootstrap secrets (`sops <secrets file>`)',
        })
      }
      redactor.add(value)
      return value
    }

    const writes: {
      app: OpenBaoAppConfig
      state: KvState
      add: Record<string, string>
      rotated: Set<string>
    }[] = []
    for (const app of this.options.apps) {
      const fields = Object.entries(app.secrets)
      if (fields.length === 0) continue
      const state = await this.readKv(app.name)
      const add: Record<string, string> = {}
      const rotated = new Set<string>()
      for (const [field, spec] of fields) {
        const subject = `secret ${app.name}/${field}`
        const live = state.data?.[field]
        const exists = state.data !== undefined && Object.hasOwn(state.data, field)
        const keep = 'generate' in spec ? generatedKey(app.name, field) : undefined
        const rotate = rotating(app.name, field)
        if (exists && !rotate) {
          // The live value wins, and becomes the copy a recreated OpenBao gets back.
          if (keep && typeof live === 'string' && this.file[keep] !== live) {
            this.setFile(keep, live)
            this.entry(
              subject,
              'kept',
              `exists; its copy in ${this.options.initFile} updated to the live value`,
            )
          } else {
            this.entry(subject, 'kept', `exists; only --rotate ${app.name}/${field} replaces it`)
          }
          continue
        }
        let value: string
        let source: string
        if ('fromField' in spec) {
          value = await bootstrapValue(spec.fromField)
          source = `from bootstrap field ${spec.fromField}`
        } else if (!rotate && keep && this.file[keep]) {
          value = this.file[keep] as string
          source = `restored from ${this.options.initFile}`
        } else {
          value = this.deps.randomSecret(spec.generate)
          redactor.add(value)
          if (keep) this.setFile(keep, value)
          source = `generated, ${spec.generate} characters, copy in ${this.options.initFile}`
        }
        if (exists && live === value) {
          this.entry(subject, 'skipped', `--rotate: ${source} is the value it already has`)
          continue
        }
        add[field] = value
        if (exists) rotated.add(field)
        this.entry(subject, exists ? 'replaced' : 'created', source)
      }
      if (Object.keys(add).length > 0) writes.push({ app, state, add, rotated })
    }
    // Generated values reach the init file before OpenBao: a stop in between loses none.
    await this.saveFile()
    for (const write of writes) await this.writeKv(write.app.name, write.state, write.add, write.rotated)
  }

  private async readKv(app: string): Promise<KvState> {
    if (this.fresh) return { version: 0, data: undefined }
    const path = `${KV_MOUNT}/data/${app}`
    const response = await this.send('GET', path, undefined, this.token)
    const body = response.body as
      | { data?: { data?: Record<string, unknown> | null; metadata?: { version?: number } } }
      | undefined
    const version = body?.data?.metadata?.version ?? 0
    if (response.status === 404) return { version, data: undefined }
    if (response.status !== 200) throw this.failure(response, `read ${path}`)
    const data = body?.data?.data ?? undefined
    for (const value of Object.values(data ?? {})) if (typeof value === 'string') redactor.add(value)
    return { version, data: data ?? undefined }
  }

  /** KV v2 with check-and-set; on a concurrent write, read again and add only what is still missing. */
  private async writeKv(
    app: string,
    initial: KvState,
    wanted: Record<string, string>,
    rotated: Set<string>,
  ): Promise<void> {
    if (this.options.dryRun) return
    const path = `${KV_MOUNT}/data/${app}`
    let state = initial
    let add = { ...wanted }
    for (let attempt = 1; ; attempt++) {
      const data = { ...(state.data ?? {}), ...add }
      const response = await this.send('POST', path, { options: { cas: state.version }, data }, this.token)
      if (response.status === 200 || response.status === 204) return
      const conflict = response.status === 400 && /check-and-set/i.test(errorsOf(response.body))
      if (!conflict || attempt >= 3) throw this.failure(response, `write ${path}`)
      state = await this.readKv(app)
      const current = state.data
      add = Object.fromEntries(
        Object.entries(add).filter(
          ([field]) => rotated.has(field) || !(current && Object.hasOwn(current, field)),
        ),
      )
      for (const field of Object.keys(wanted).filter((f) => !(f in add))) {
        this.entry(`secret ${app}/${field}`, 'kept', 'written by someone else meanwhile; theirs is kept')
      }
      if (Object.keys(add).length === 0) return
    }
  }

  // --- plumbing -----------------------------------------------------------------------------

  private entry(subject: string, outcome: Outcome, note?: string): void {
    const entry = { subject, outcome, note }
    this.report.entries.push(entry)
    this.deps.onEntry(formatEntry(entry, this.options.dryRun))
  }

  /** Reports a change and makes it, unless this is a dry run. */
  private async change(
    subject: string,
    outcome: Outcome,
    note: string | undefined,
    write: () => Promise<unknown>,
  ): Promise<void> {
    if (!this.options.dryRun) await write()
    this.entry(subject, outcome, note)
  }

  /** GET's `data`; undefined on 404 (absent, or an auth method not enabled yet). */
  private async read(path: string): Promise<Record<string, unknown> | undefined> {
    if (this.fresh) return undefined
    const response = await this.send('GET', path, undefined, this.token)
    if (response.status === 404) return undefined
    if (response.status !== 200) throw this.failure(response, `read ${path}`)
    return dataOf(response.body)
  }

  private async must(
    method: BaoMethod,
    path: string,
    body: Record<string, unknown>,
    what: string,
  ): Promise<unknown> {
    const response = await this.send(method, path, body, this.token)
    if (response.status !== 200 && response.status !== 204) throw this.failure(response, what)
    return response.body
  }

  private async send(
    method: BaoMethod,
    path: string,
    body: Record<string, unknown> | undefined,
    token: string,
  ): Promise<BaoResponse> {
    if (method !== 'GET') this.report.writes++
    try {
      return await this.deps.call({ method, path, body, token })
    } catch (error) {
      throw new BootstrapError(
        `OpenBao at ${this.options.address} stopped answering (${method} ${path}: ${networkDetail(error)})`,
        {
          hint: 'is it still running? run setup again once it answers: every part is idempotent',
          cause: error,
        },
      )
    }
  }

  private failure(response: BaoResponse, what: string): BootstrapError {
    const said = redactor.mask(errorsOf(response.body)) || `status ${response.status}`
    if (response.status === 403) {
      return new BootstrapError(
        `OpenBao at ${this.options.address} denied ${this.tokenSource} to ${what} (403 ${said})`,
        {
          hint: `the ${ADMIN_POLICY} policy lacks it, or the token was revoked: ${recoveryHint(this.options.initFile)}`,
        },
      )
    }
    if (response.status === 503) {
      return new BootstrapError(`OpenBao at ${this.options.address} could not ${what}: ${said} (503)`, {
        hint: 'it is sealed or not ready; run setup again once `bao status` says Sealed false',
      })
    }
    return new BootstrapError(
      `OpenBao at ${this.options.address} could not ${what}: ${response.status} ${said}`,
    )
  }
}

function recoveryHint(initFile: string, prefix = ''): string {
  return `${prefix ? `${prefix} ` : ''}make a root token from the recovery keys in ${initFile} (\`sops -d ${initFile}\`; \`bao operator generate-root -init\`, then \`bao operator generate-root\` with each recovery key, then \`-decode\` with the OTP), store it in the init file as root_token (\`sops set ${initFile} '["root_token"]' '"<token>"'\`) and run setup again: it makes a new admin token and revokes that root token`
}

function isSealStatus(body: unknown): body is SealStatus {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as SealStatus).initialized === 'boolean' &&
    typeof (body as SealStatus).sealed === 'boolean'
  )
}

/** A seal that unseals by itself (static, cloud KMS, transit): initialised with recovery keys. */
function isAutoUnseal(status: SealStatus): boolean {
  return status.recovery_seal === true || (status.type !== undefined && status.type !== 'shamir')
}

function dataOf(body: unknown): Record<string, unknown> | undefined {
  const data = (body as { data?: unknown } | undefined)?.data
  return data && typeof data === 'object' && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : undefined
}

function errorsOf(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors
  return Array.isArray(errors) ? errors.map(String).join('; ') : ''
}

function networkDetail(error: unknown): string {
  const e = error as { code?: string; message?: string }
  // Node 20 reports a refused dual-stack connect as an AggregateError with an empty message.
  return redactor.mask(
    e.code
      ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}`
      : errorMessage(error) || 'no answer',
  )
}
