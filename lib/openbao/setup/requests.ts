import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import { type BaoCall, type BaoMethod, type BaoResponse, dataOf, errorsOf, networkDetail } from '../client.ts'
import { recoveryHint } from '../init-store.ts'
import { uploadSnapshot } from '../snapshot.ts'
import { ADMIN_POLICY } from './policy.ts'

/**
 * Every request setup sends to one OpenBao: with the token in use (set here and nowhere else),
 * every write counted, and a refusal said the same way whoever sent it: which token was denied,
 * what it tried, and how to get a working one back.
 */
export class BaoRequests {
  #token = ''
  #tokenSource = 'no token'
  #empty = false
  #writes = 0

  constructor(
    readonly address: string,
    private readonly call: BaoCall,
    /** The init file as configured: the 403 hint names it. */
    private readonly initFile: string,
  ) {}

  /** Requests other than GET sent so far. */
  get writes(): number {
    return this.#writes
  }

  /** A dry run against an uninitialised OpenBao: from now on every read answers as an empty one would. */
  assumeEmpty(): void {
    this.#empty = true
  }

  get empty(): boolean {
    return this.#empty
  }

  useToken(token: string, source: string): void {
    redactor.add(token)
    this.#token = token
    this.#tokenSource = source
  }

  /** GET's `data`; undefined on 404 (absent, or an auth method not enabled yet). */
  async read(path: string): Promise<Record<string, unknown> | undefined> {
    if (this.#empty) return undefined
    const response = await this.send('GET', path)
    if (response.status === 404) return undefined
    if (response.status !== 200) throw this.failure(response, `read ${path}`)
    return dataOf(response.body)
  }

  async must(method: BaoMethod, path: string, body: Record<string, unknown>, what: string): Promise<unknown> {
    const response = await this.send(method, path, body)
    if (response.status !== 200 && response.status !== 204) throw this.failure(response, what)
    return response.body
  }

  /** One request and its answer, whatever its status; with the token in use unless another is given ('' for none). */
  async send(
    method: BaoMethod,
    path: string,
    body?: Record<string, unknown>,
    options: { token?: string; timeoutMs?: number } = {},
  ): Promise<BaoResponse> {
    if (method !== 'GET') this.#writes++
    const token = options.token ?? this.#token
    try {
      return await this.call({
        method,
        path,
        body,
        token,
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      })
    } catch (error) {
      throw this.unreachable(`${method} ${path}`, error)
    }
  }

  /** A raft snapshot put back with `token` (the restore's root token): a write like any other. */
  async restoreSnapshot(token: string, bytes: Buffer): Promise<void> {
    this.#writes++
    await uploadSnapshot(this.address, token, bytes)
  }

  failure(response: BaoResponse, what: string): BootstrapError {
    const said = redactor.mask(errorsOf(response.body)) || `status ${response.status}`
    if (response.status === 403) {
      return new BootstrapError(
        `OpenBao at ${this.address} denied ${this.#tokenSource} to ${what} (403 ${said})`,
        {
          hint: `the ${ADMIN_POLICY} policy lacks it, or the token was revoked: ${recoveryHint(this.initFile)}`,
        },
      )
    }
    if (response.status === 503) {
      return new BootstrapError(`OpenBao at ${this.address} could not ${what}: ${said} (503)`, {
        hint: 'it is sealed or not ready; run setup again once `bao status` says Sealed false',
      })
    }
    return new BootstrapError(`OpenBao at ${this.address} could not ${what}: ${response.status} ${said}`)
  }

  private unreachable(request: string, error: unknown): BootstrapError {
    return new BootstrapError(
      `OpenBao at ${this.address} stopped answering (${request}: ${networkDetail(error)})`,
      {
        hint: 'is it still running? run setup again once it answers: every part is idempotent',
        cause: error,
      },
    )
  }
}
