import { describe, expect, it } from 'vitest'
import { isNetworkError, isTransientError, statusCode, unlessAbsent } from './request-failure.ts'

const withCode = (code: number, message = `HTTP ${code}`) => Object.assign(new Error(message), { code })

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
