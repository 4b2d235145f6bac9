import { describe, expect, it, vi } from 'vitest'
import { BootstrapError } from './errors.ts'
import { retry } from './retry.ts'

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
