import { BootstrapError, errorMessage } from './errors.ts'
import { isTransientError } from './request-failure.ts'

/**
 * The one wait of the project: polls a check until it answers, bounded by a timeout whose error
 * says what was awaited, what the last check saw, and where to look. A failing call repeated with
 * backoff is `retry` (retry.ts); a state that is not there yet is waited for here.
 */

/** Time as a wait sees it, passed in so a test runs a wait of minutes without real time passing. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export interface WaitOptions {
  timeoutMs: number
  /** Between two checks; default 1000 ms. */
  intervalMs?: number
  /** How to fix it when the wait times out: what to look at (a log file, a `kubectl` command). */
  hint?: string
  /**
   * Which errors of the check mean "not yet"; any other is thrown at once. Default: the transient
   * ones (a network blink, a 5xx): a 403 will not pass by waiting. `() => true` waits through all.
   */
  notYet?: (error: unknown) => boolean
  /** What the last check saw, for the timeout message; default: the first line of its error. */
  describeLast?: () => string
  /** The timeout's whole message, for a wait that says it in its own words. */
  timeoutMessage?: (seconds: number, last: string) => string
  clock?: Clock
}

/** Polls `check` until it returns a value (not undefined, not false); a timeout is a BootstrapError. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: WaitOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock
  const notYet = options.notYet ?? isTransientError
  const deadline = clock.now() + options.timeoutMs
  for (;;) {
    let failure: { error: unknown } | undefined
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      if (!notYet(error)) throw error
      failure = { error }
    }
    if (clock.now() >= deadline) {
      const last =
        options.describeLast?.() ?? (failure ? (errorMessage(failure.error).split('\n')[0] ?? '') : '')
      const seconds = Math.round(options.timeoutMs / 1000)
      throw new BootstrapError(
        options.timeoutMessage?.(seconds, last) ??
          `timed out after ${seconds} s waiting for ${what}${last ? ` (last: ${last})` : ''}`,
        { hint: options.hint, cause: failure?.error },
      )
    }
    await clock.sleep(options.intervalMs ?? 1000)
  }
}
