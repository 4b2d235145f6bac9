import { setTimeout as sleep } from 'node:timers/promises'
import { expBackoff } from 'zx'
import { BootstrapError, errorMessage } from './errors.ts'

/**
 * The one retry loop of the project: exponential backoff (zx's expBackoff), only for
 * failures `isTransient` says may pass, bounded by attempts and by a deadline.
 * zx's own `retry` prints each failure itself, past our redactor, so it is not used.
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
  const delays = expBackoff(maxDelayMs, firstDelayMs)
  const deadline = Date.now() + deadlineMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      const delay = delays.next().value ?? maxDelayMs
      if (!isTransient(error) || attempt >= attempts || Date.now() + delay > deadline) throw error
      options.onRetry?.(error, attempt)
      await sleep(delay)
    }
  }
}

/** Network failures, throttling and server errors: the API may answer on the next try. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof BootstrapError) return false
  const code = statusCode(error)
  if (code !== undefined) return code === 429 || code >= 500
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN|socket hang up|other side closed|fetch failed|network|TLS connection/i.test(
    errorMessage(error) + String((error as { cause?: unknown })?.cause ?? ''),
  )
}

export function statusCode(error: unknown): number | undefined {
  const code =
    (error as { code?: unknown; statusCode?: unknown })?.code ??
    (error as { statusCode?: unknown })?.statusCode
  return typeof code === 'number' ? code : undefined
}

/** Polls `check` until it returns a value, or throws a timeout error saying what was awaited. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; describeLast?: () => string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
      lastError = undefined
    } catch (error) {
      if (!isTransientError(error)) throw error
      lastError = error
    }
    if (Date.now() >= deadline) {
      const last = options.describeLast?.() ?? (lastError ? errorMessage(lastError) : '')
      throw new BootstrapError(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}${last ? ` (last: ${last})` : ''}`,
      )
    }
    await sleep(options.intervalMs ?? 1000)
  }
}
