import { describe, expect, it, vi } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import { BootstrapError } from './errors.ts'
import { type Clock, waitFor } from './wait.ts'

/** A clock that only moves when the wait sleeps: every wait here takes no real time. */
function fakeClock(): Clock & { sleeps: number[]; elapsed(): number } {
  let now = 1_000_000
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms)
      now += ms
    },
    elapsed: () => now - 1_000_000,
  }
}

const withCode = (code: number, message = `HTTP ${code}`) => Object.assign(new Error(message), { code })

describe('waitFor', () => {
  it('returns the first value the check gives, polling until then', async () => {
    const clock = fakeClock()
    const answers = [undefined, false, 'ready'] as const
    const check = vi.fn(async () => answers[check.mock.calls.length - 1])
    expect(await waitFor('the thing', check, { timeoutMs: 5_000, intervalMs: 1, clock })).toBe('ready')
    expect(check).toHaveBeenCalledTimes(3)
  })

  it('sleeps the interval it is given between checks, 1 s by default', async () => {
    const clock = fakeClock()
    const ready = (after: number) => vi.fn(async () => clock.elapsed() >= after)
    await waitFor('x', ready(750), { timeoutMs: 5_000, intervalMs: 250, clock })
    expect(clock.sleeps).toEqual([250, 250, 250])
    clock.sleeps.length = 0
    await waitFor('x', ready(2_750), { timeoutMs: 5_000, clock })
    expect(clock.sleeps).toEqual([1000, 1000])
  })

  it('times out with a message saying what it waited for', async () => {
    const wait = waitFor('Deployment/argocd/argocd-server to be Available', async () => undefined, {
      timeoutMs: 1_000,
      intervalMs: 50,
      describeLast: () => '0 of 1 replicas available',
      clock: fakeClock(),
    })
    await expect(wait).rejects.toThrow(
      new BootstrapError(
        'timed out after 1 s waiting for Deployment/argocd/argocd-server to be Available (last: 0 of 1 replicas available)',
      ),
    )
    await expect(wait).rejects.toBeInstanceOf(BootstrapError)
  })

  it('checks once more at the deadline, then times out after exactly the timeout, with the hint', async () => {
    const clock = fakeClock()
    const check = vi.fn(async () => false)
    const error = await caught(
      waitFor('the nodes', check, { timeoutMs: 2_000, intervalMs: 500, hint: 'see kwok.log', clock }),
    )
    expect(clock.elapsed()).toBe(2_000)
    expect(check).toHaveBeenCalledTimes(5)
    expect(error.message).toBe('timed out after 2 s waiting for the nodes')
    expect(error.hint).toBe('see kwok.log')
  })

  it('keeps polling through transient errors and names the last one on timeout', async () => {
    const check = vi.fn(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:6443')
    })
    await expect(
      waitFor('the API server', check, { timeoutMs: 60, intervalMs: 5, clock: fakeClock() }),
    ).rejects.toThrow(/waiting for the API server \(last: connect ECONNREFUSED 127\.0\.0\.1:6443\)$/)
    expect(check.mock.calls.length).toBeGreaterThan(1)
  })

  it('throws a permanent error from the check at once', async () => {
    const error = withCode(403, 'forbidden')
    const check = vi.fn(async () => {
      throw error
    })
    await expect(waitFor('x', check, { timeoutMs: 5_000, intervalMs: 1, clock: fakeClock() })).rejects.toBe(
      error,
    )
    expect(check).toHaveBeenCalledTimes(1)
  })

  it('with notYet, waits through any error: the first line of the last one, and the hint, on timeout', async () => {
    const clock = fakeClock()
    const last = withCode(
      404,
      'customresourcedefinitions "applications.argoproj.io" not found\n{"kind":"Status"}',
    )
    const check = vi.fn(async () => {
      throw last
    })
    const error = await caught(
      waitFor('Argo CD CRDs established', check, {
        timeoutMs: 1_000,
        intervalMs: 250,
        notYet: () => true,
        hint: '`kubectl get crd applications.argoproj.io -o yaml`',
        clock,
      }),
    )
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message).toBe(
      'timed out after 1 s waiting for Argo CD CRDs established (last: customresourcedefinitions "applications.argoproj.io" not found)',
    )
    expect(error.hint).toBe('`kubectl get crd applications.argoproj.io -o yaml`')
    expect(error.cause).toBe(last)
    expect(check).toHaveBeenCalledTimes(5)
  })

  it('names only an error of the last check: a later "not yet" answer clears it', async () => {
    let calls = 0
    const check = async () => {
      if (++calls === 1) throw new Error('socket hang up')
      return false
    }
    const error = await caught(waitFor('x', check, { timeoutMs: 1_000, intervalMs: 500, clock: fakeClock() }))
    expect(error.message).toBe('timed out after 1 s waiting for x')
  })

  it('says the timeout in the words it is given, with what was seen last', async () => {
    const error = await caught(
      waitFor(
        'OpenBao to answer',
        async () => {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8200'), { code: 'ECONNREFUSED' })
        },
        {
          timeoutMs: 5_000,
          intervalMs: 500,
          timeoutMessage: (seconds, last) => `OpenBao did not answer within ${seconds} s (${last})`,
          hint: 'is OpenBao running?',
          clock: fakeClock(),
        },
      ),
    )
    expect(error.message).toBe('OpenBao did not answer within 5 s (connect ECONNREFUSED 127.0.0.1:8200)')
    expect(error.hint).toBe('is OpenBao running?')
  })
})
