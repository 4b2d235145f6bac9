import { describe, expect, it, vi } from 'vitest'
import { BootstrapError } from './errors.ts'
import { isTransientError, retry, statusCode, waitFor } from './retry.ts'

const fast = { firstDelayMs: 1, maxDelayMs: 2 }
const withCode = (code: number, message = `HTTP ${code}`) => Object.assign(new Error(message), { code })

/** Fails with each of `errors` in turn, then returns 'ok'. */
function flaky(...errors: unknown[]) {
  return vi.fn(async () => {
    const error = errors.shift()
    if (error) throw error
    return 'ok'
  })
}

describe('retry', () => {
  it.each([
    ['connection refused', new Error('connect ECONNREFUSED 127.0.0.1:6443')],
    ['503', withCode(503, 'Service Unavailable')],
    ['429', Object.assign(new Error('Too Many Requests'), { statusCode: 429 })],
    [
      'a fetch failure caused by a reset',
      new TypeError('fetch failed', { cause: new Error('read ECONNRESET') }),
    ],
  ])('retries a transient failure (%s) until it passes', async (_, error) => {
    const fn = flaky(error, error)
    const onRetry = vi.fn()
    expect(await retry(fn, { ...fast, onRetry })).toBe('ok')
    expect(fn).toHaveBeenCalledTimes(3)
    expect(onRetry.mock.calls.map(([e, attempt]) => [e, attempt])).toEqual([
      [error, 1],
      [error, 2],
    ])
  })

  it.each([
    ['404', withCode(404, 'Not Found')],
    ['403', withCode(403, 'Forbidden')],
    ['422', withCode(422, 'Unprocessable Entity')],
    ['a plain error', new Error('field is immutable')],
    ['a BootstrapError, whatever it says', new BootstrapError('connect ECONNREFUSED: decided already')],
  ])('gives up immediately on a permanent failure (%s)', async (_, error) => {
    const fn = flaky(error)
    const onRetry = vi.fn()
    await expect(retry(fn, { ...fast, onRetry })).rejects.toBe(error)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(onRetry).not.toHaveBeenCalled()
  })

  it('stops after the given number of attempts with the last error', async () => {
    const errors = [1, 2, 3, 4].map((n) => new Error(`ECONNRESET ${n}`))
    const fn = flaky(...errors)
    await expect(retry(fn, { ...fast, attempts: 3 })).rejects.toBe(errors[2])
    expect(fn).toHaveBeenCalledTimes(3)
  })

  it('stops when the next wait would pass the deadline', async () => {
    const fn = flaky(withCode(503), withCode(503))
    await expect(retry(fn, { firstDelayMs: 50, maxDelayMs: 50, deadlineMs: 10 })).rejects.toThrow('HTTP 503')
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('uses the isTransient it is given', async () => {
    const fn = flaky(new Error('custom'), new Error('custom'))
    expect(await retry(fn, { ...fast, isTransient: (e) => (e as Error).message === 'custom' })).toBe('ok')
    expect(fn).toHaveBeenCalledTimes(3)
  })
})

describe('isTransientError', () => {
  it('knows network failures, throttling and server errors', () => {
    for (const code of [429, 500, 502, 503, 504]) expect(isTransientError(withCode(code))).toBe(true)
    for (const code of [400, 401, 403, 404, 409, 422]) expect(isTransientError(withCode(code))).toBe(false)
    for (const message of [
      'socket hang up',
      'getaddrinfo EAI_AGAIN api',
      'write EPIPE',
      'connect ETIMEDOUT',
    ]) {
      expect(isTransientError(new Error(message))).toBe(true)
    }
    expect(isTransientError(new Error('admission webhook denied the request'))).toBe(false)
  })

  it('reads the HTTP status from code or statusCode, numbers only', () => {
    expect(statusCode({ code: 503 })).toBe(503)
    expect(statusCode({ statusCode: 429 })).toBe(429)
    expect(statusCode({ code: 'ECONNREFUSED' })).toBeUndefined()
    expect(statusCode(undefined)).toBeUndefined()
  })
})

describe('waitFor', () => {
  it('returns the first value the check gives, polling until then', async () => {
    const answers = [undefined, false, 'ready'] as const
    const check = vi.fn(async () => answers[check.mock.calls.length - 1])
    expect(await waitFor('the thing', check, { timeoutMs: 5_000, intervalMs: 1 })).toBe('ready')
    expect(check).toHaveBeenCalledTimes(3)
  })

  it('times out with a message saying what it waited for', async () => {
    const wait = waitFor('Deployment/argocd/argocd-server to be Available', async () => undefined, {
      timeoutMs: 1_000,
      intervalMs: 50,
      describeLast: () => '0 of 1 replicas available',
    })
    await expect(wait).rejects.toThrow(
      new BootstrapError(
        'timed out after 1 s waiting for Deployment/argocd/argocd-server to be Available (last: 0 of 1 replicas available)',
      ),
    )
    await expect(wait).rejects.toBeInstanceOf(BootstrapError)
  })

  it('keeps polling through transient errors and names the last one on timeout', async () => {
    const check = vi.fn(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:6443')
    })
    await expect(waitFor('the API server', check, { timeoutMs: 60, intervalMs: 5 })).rejects.toThrow(
      /waiting for the API server \(last: connect ECONNREFUSED 127\.0\.0\.1:6443\)$/,
    )
    expect(check.mock.calls.length).toBeGreaterThan(1)
  })

  it('throws a permanent error from the check at once', async () => {
    const error = withCode(403, 'forbidden')
    const check = vi.fn(async () => {
      throw error
    })
    await expect(waitFor('x', check, { timeoutMs: 5_000, intervalMs: 1 })).rejects.toBe(error)
    expect(check).toHaveBeenCalledTimes(1)
  })
})
