import { setTimeout as sleep } from 'node:timers/promises'
import { BootstrapError, errorMessage } from './errors.ts'

/**
 * The one retry loop of the project: exponential backoff (zx's expBackoff), only for
 * failures `isTransient` says may pass, bounded by attempts and by a deadline.
 * zx's own `retry` prints each failure itself, past our redactor, so it is not used. zx is loaded
 * at the first failure only: most runs never retry, and loading it costs a no-op create ~30 ms.
 * And the one reading of a failure every retry and wait goes by: its HTTP status, whether it got
 * an answer at all, whether it may pass on the next try. (Polling for a state is `waitFor`, wait.ts.)
 */
export interface RetryOptions {
  attempts?: number
  /** Stop retrying after this long in total. */
  deadlineMs?: number
  maxDelayMs?: number
  firstDelayMs?: number
  isTransient?: (error: unknown) => boolean
  onRetry?: (error: unknown, attempt: number) => void
}

export async function retry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { attempts = 10, deadlineMs = 120_000, maxDelayMs = 5_000, firstDelayMs = 200 } = options
  const isTransient = options.isTransient ?? isTransientError
  let delays: Iterator<number> | undefined
  const deadline = Date.now() + deadlineMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (!isTransient(error) || attempt >= attempts) throw error
      delays ??= (await import('zx')).expBackoff(maxDelayMs, firstDelayMs)
      const delay = delays.next().value ?? maxDelayMs
      if (Date.now() + delay > deadline) throw error
      options.onRetry?.(error, attempt)
      await sleep(delay)
    }
  }
}

/** Network failures, throttling and server errors: the API may answer on the next try. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof BootstrapError) return false
  const status = statusCode(error)
  if (status !== undefined) return status === 429 || status >= 500
  // A name that does not resolve stays so: failing at once says more than retrying for minutes.
  return isNetworkError(error) && codeOf(error) !== 'ENOTFOUND'
}

/**
 * The HTTP status of a failed request, when it got an answer: client-node errors carry it as
 * `code`, node-vault and other HTTP clients as `statusCode` or `response.statusCode`.
 */
export function statusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } }
  const status = [e?.code, e?.statusCode, e?.response?.statusCode].find((value) => typeof value === 'number')
  return status as number | undefined
}

/** A read whose 404 means "not there": undefined then; any other failure is thrown as it came. */
export async function unlessAbsent<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request
  } catch (error) {
    if (statusCode(error) === 404) return undefined
    throw error
  }
}

/** The codes Node, undici and Bun give a request that got no answer. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ConnectionRefused',
  'ConnectionClosed',
])
/** The same said in a message only (fetch wraps the cause; some clients drop the code). */
const NETWORK_MESSAGE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN|socket hang up|other side closed|fetch failed|network|TLS connection/i

/** No answer at all: the connection was refused, broke, timed out, or its name did not resolve. */
export function isNetworkError(error: unknown): boolean {
  const cause = (error as { cause?: unknown })?.cause
  if (NETWORK_CODES.has(codeOf(error)) || NETWORK_CODES.has(codeOf(cause))) return true
  return NETWORK_MESSAGE.test(errorMessage(error) + String(cause ?? ''))
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown })?.code
  return typeof code === 'string' ? code : ''
}
