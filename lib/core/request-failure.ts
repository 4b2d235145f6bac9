import { BootstrapError, errorMessage } from './errors.ts'

/**
 * The one reading of a failed request, for every client (Kubernetes, Vault/OpenBao, plain HTTP)
 * and for every retry and wait: its HTTP status, whether it got an answer at all, whether it may
 * pass on the next try.
 */

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
