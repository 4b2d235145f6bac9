import { setTimeout as sleep } from 'node:timers/promises'
import { isTransientError } from './request-failure.ts'

/**
 * The one retry loop of the project: exponential backoff (zx's expBackoff), only for
 * failures `isTransient` says may pass, bounded by attempts and by a deadline.
 * zx's own `retry` prints each failure itself, past our redactor, so it is not used. zx is loaded
 * at the first failure only: most runs never retry, and loading it costs a no-op create ~30 ms.
 * Which failures may pass is request-failure.ts's call. (Polling for a state is `waitFor`, wait.ts.)
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
