import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import type { OpenBaoAppConfig } from '../../runner/config.ts'
import { type BaoCall, type BaoMethod, type BaoResponse, dataOf, errorsOf, networkDetail } from '../client.ts'
import type { OpenBaoStorage } from '../endpoint.ts'
import { type InitStore, recoveryHint } from '../init-store.ts'
import type { Snapshot } from '../snapshot.ts'
import { ADMIN_POLICY, type KubernetesTarget } from './policy.ts'
import { formatEntry, type Outcome, type SetupReport } from './report.ts'

/**
 * One run of setup against one OpenBao: what it is given, and what every part of it shares: the
 * session (its token, every request counted), the init file's values, the report.
 */

/**
 * `--rotate <app>/<field>`: one configured secret to replace. Here, with the options that carry
 * it: secrets.ts parses and applies them, and already imports this module.
 */
export interface Rotation {
  app: string
  field: string
}

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
  /**
   * The snapshot to restore into an OpenBao that is not initialised yet (openbao.snapshotFile),
   * decrypted before anything is sent: one no key reads stops the run with nothing changed.
   */
  snapshot?: () => Promise<{ snapshot: Snapshot; file: string } | undefined>
  /** OpenBao's storage, where the provider can name it and start it over (endpoint.ts). */
  storage?: OpenBaoStorage
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

/** One run of setup: the OpenBao session, the init file's values, the report. */
export class OpenBaoSession {
  readonly report: SetupReport
  /** What requests are sent with: '' until a token is in use (useToken). */
  token = ''
  private tokenSource = 'no token'
  /** Dry run against an uninitialised OpenBao: every read answers as an empty one would. */
  fresh = false
  /** The init file's values as this run has them; changed with setFile, written with saveFile. */
  file: Record<string, string> = {}
  fileExists = false
  private fileDirty = false
  readonly waitMs: number

  constructor(
    readonly options: SetupOptions,
    readonly deps: SetupDeps,
  ) {
    this.report = { dryRun: options.dryRun, entries: [], writes: 0, initFileWrites: 0 }
    this.waitMs = options.waitMs ?? 60_000
  }

  useToken(token: string, source: string): void {
    redactor.add(token)
    this.token = token
    this.tokenSource = source
  }

  // --- the init file ----------------------------------------------------------------------

  async loadInitFile(): Promise<void> {
    const values = await this.deps.initStore.read()
    this.fileExists = values !== undefined
    this.file = { ...(values ?? {}) }
    redactor.addAll(Object.values(this.file))
  }

  setFile(key: string, value: string | undefined): void {
    if (this.file[key] === value) return
    if (value === undefined) delete this.file[key]
    else {
      redactor.add(value)
      this.file[key] = value
    }
    this.fileDirty = true
  }

  async saveFile(): Promise<void> {
    if (!this.fileDirty || this.options.dryRun) return
    await this.deps.initStore.write({ ...this.file })
    this.report.initFileWrites++
    this.fileExists = true
    this.fileDirty = false
  }

  // --- the report ---------------------------------------------------------------------------

  entry(subject: string, outcome: Outcome, note?: string): void {
    const entry = { subject, outcome, note }
    this.report.entries.push(entry)
    this.deps.onEntry(formatEntry(entry, this.options.dryRun))
  }

  /** Reports a change and makes it, unless this is a dry run. */
  async change(
    subject: string,
    outcome: Outcome,
    note: string | undefined,
    write: () => Promise<unknown>,
  ): Promise<void> {
    if (!this.options.dryRun) await write()
    this.entry(subject, outcome, note)
  }

  // --- requests -----------------------------------------------------------------------------

  /** GET's `data`; undefined on 404 (absent, or an auth method not enabled yet). */
  async read(path: string): Promise<Record<string, unknown> | undefined> {
    if (this.fresh) return undefined
    const response = await this.send('GET', path, undefined, this.token)
    if (response.status === 404) return undefined
    if (response.status !== 200) throw this.failure(response, `read ${path}`)
    return dataOf(response.body)
  }

  async must(method: BaoMethod, path: string, body: Record<string, unknown>, what: string): Promise<unknown> {
    const response = await this.send(method, path, body, this.token)
    if (response.status !== 200 && response.status !== 204) throw this.failure(response, what)
    return response.body
  }

  async send(
    method: BaoMethod,
    path: string,
    body: Record<string, unknown> | undefined,
    token: string,
    timeoutMs?: number,
  ): Promise<BaoResponse> {
    if (method !== 'GET') this.report.writes++
    try {
      return await this.deps.call({ method, path, body, token, ...(timeoutMs ? { timeoutMs } : {}) })
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

  failure(response: BaoResponse, what: string): BootstrapError {
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
