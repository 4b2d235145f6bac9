import nodeVault from 'node-vault'
import { errorMessage } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { statusCode } from '../core/request-failure.ts'

/**
 * The one Vault/OpenBao HTTP client: OpenBao setup and the bootstrap secrets' Vault read talk
 * through it. One call shape, node-vault underneath; tests pass a recording fake. And what to make
 * of an answer: its `data`, its `errors`, a network failure.
 */

export type BaoMethod = 'GET' | 'POST' | 'PUT'
export interface BaoRequest {
  method: BaoMethod
  /** API path without /v1/, e.g. `sys/mounts`. */
  path: string
  body?: Record<string, unknown>
  /** '' for unauthenticated calls (seal-status, init). */
  token: string
  /** Overrides the client's timeout for a call known to be slow (init waits for raft's leader election). */
  timeoutMs?: number
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
  return async ({ method, path, body, token, timeoutMs: callTimeoutMs }) => {
    try {
      const result: unknown = await client.request({
        method,
        path: `/${path}`,
        json: body,
        headers: token ? { 'X-Vault-Token': token } : {},
        timeout: callTimeoutMs ?? timeoutMs,
      })
      return result === '' || result === undefined
        ? { status: 204, body: undefined }
        : { status: 200, body: result }
    } catch (error) {
      // An answer with an error status is an answer; only no answer at all rejects.
      const status = statusCode(error)
      if (status !== undefined)
        return { status, body: (error as { response?: { body?: unknown } }).response?.body }
      throw error
    }
  }
}

export function dataOf(body: unknown): Record<string, unknown> | undefined {
  const data = (body as { data?: unknown } | undefined)?.data
  return data && typeof data === 'object' && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : undefined
}

/** The `errors` of an answer, one string (each item through `item`, default String). */
export function errorsOf(body: unknown, item: (said: unknown) => string = String): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors
  return Array.isArray(errors) ? errors.map(item).join('; ') : ''
}

export function networkDetail(error: unknown): string {
  const e = error as { code?: string; message?: string }
  // Node 20 reports a refused dual-stack connect as an AggregateError with an empty message.
  return redactor.mask(
    e.code
      ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}`
      : errorMessage(error) || 'no answer',
  )
}
