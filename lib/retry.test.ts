import { describe, expect, it, vi } from 'vitest'
import { BootstrapError } from './errors.ts'
import { isNetworkError, isTransientError, retry, statusCode, unlessAbsent } from './retry.ts'

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

  it('reads the status node-vault puts on response.statusCode too', () => {
    const vaultError = Object.assign(new Error('permission denied'), {
      response: { statusCode: 403, body: { errors: ['permission denied'] } },
    })
    expect(statusCode(vaultError)).toBe(403)
    expect(isTransientError(vaultError)).toBe(false)
    expect(isTransientError({ response: { statusCode: 502 } })).toBe(true)
    expect(statusCode({ code: 'ECONNREFUSED', response: { statusCode: 'x' } })).toBeUndefined()
  })

  it('knows a request that got no answer by its code, its cause, or its message', () => {
    // Node reports a refused dual-stack connect as an AggregateError with an empty message.
    expect(isNetworkError(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' }))).toBe(true)
    for (const code of ['EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ConnectionRefused', 'ENOTFOUND'])
      expect(isNetworkError(Object.assign(new Error(''), { code }))).toBe(true)
    expect(isNetworkError(new TypeError('fetch failed', { cause: { code: 'EHOSTUNREACH' } }))).toBe(true)
    expect(isNetworkError(new Error('socket hang up'))).toBe(true)
    expect(isNetworkError(new Error('self-signed certificate in certificate chain'))).toBe(false)
    expect(isNetworkError(withCode(503))).toBe(false)
  })

  it('a name that does not resolve is no answer, but not worth retrying', () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND api.example'), { code: 'ENOTFOUND' })
    expect(isNetworkError(notFound)).toBe(true)
    expect(isTransientError(notFound)).toBe(false)
    expect(
      isTransientError(Object.assign(new Error('getaddrinfo EAI_AGAIN api'), { code: 'EAI_AGAIN' })),
    ).toBe(true)
  })
})

describe('unlessAbsent', () => {
  it('answers undefined for a 404 and passes every other failure on', async () => {
    expect(await unlessAbsent(Promise.resolve('there'))).toBe('there')
    expect(await unlessAbsent(Promise.reject(Object.assign(new Error('Not Found'), { code: 404 })))).toBe(
      undefined,
    )
    const forbidden = Object.assign(new Error('Forbidden'), { code: 403 })
    await expect(unlessAbsent(Promise.reject(forbidden))).rejects.toBe(forbidden)
  })
})
