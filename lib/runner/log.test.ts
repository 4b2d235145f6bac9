import { afterEach, describe, expect, it, vi } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { Redactor } from '../core/redact.ts'
import { formatMs, Logger } from './log.ts'

const SECRET = 'log-test-secret-value'

function logger() {
  const sink = memorySink()
  const redactor = new Redactor()
  redactor.add(SECRET)
  return { sink, log: new Logger({ sink, redactor }) }
}

/** performance.now answers these, one per call. */
function clock(...times: number[]) {
  const spy = vi.spyOn(performance, 'now')
  for (const time of times) spy.mockReturnValueOnce(time)
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('Logger', () => {
  it('records a step that succeeds, with its elapsed time, and returns its result', async () => {
    const { sink, log } = logger()
    clock(1_000, 2_500)
    const result = await log.step('01', 'secrets', async () => 'value')
    expect(result).toBe('value')
    expect(log.records).toEqual([{ id: '01', name: 'secrets', status: 'ok', ms: 1500 }])
    expect(sink.lines).toEqual(['\n[01] secrets', '    done in 1.5 s'])
  })

  it('records a step that fails, rethrows its error and prints no "done"', async () => {
    const { sink, log } = logger()
    clock(100, 142)
    const boom = new Error('boom')
    await expect(
      log.step('02', 'namespaces', async () => {
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(log.records).toEqual([{ id: '02', name: 'namespaces', status: 'failed', ms: 42 }])
    expect(sink.lines).toEqual(['\n[02] namespaces'])
  })

  it('prints a summary table: one aligned line per step and the total', async () => {
    const { sink, log } = logger()
    clock(0, 1_500, 2_000, 2_020)
    await log.step('00', 'cluster', async () => {})
    await expect(
      log.step('01', 'secrets', async () => {
        throw new Error('x')
      }),
    ).rejects.toThrow('x')
    log.skipped('09', 'openbao-setup', 'no OpenBao here')
    sink.lines.length = 0
    log.summary()
    expect(sink.lines).toEqual([
      '\nsummary',
      '  00 cluster        ok      1.5 s',
      '  01 secrets        failed  20 ms',
      '  09 openbao-setup  skipped skipped (no OpenBao here)',
      '  total                     1.5 s',
    ])
  })

  it('prints no summary when no step ran', () => {
    const { sink, log } = logger()
    log.summary()
    expect(sink.lines).toEqual([])
  })

  it('masks every line through the redactor it is given', async () => {
    const { sink, log } = logger()
    log.info(`info ${SECRET}`)
    log.detail(`detail ${SECRET}`)
    log.warn(`warn ${SECRET}`)
    log.error(`error ${SECRET}`)
    log.error(`base64 ${Buffer.from(SECRET).toString('base64')}`)
    await log.step('03', `step named ${SECRET}`, async () => {})
    log.skipped('04', 'skipped', `because ${SECRET}`)
    log.summary()
    expect(sink.lines.length).toBeGreaterThan(8)
    for (const line of sink.lines) expect(line).not.toContain(SECRET)
    expect(sink.lines.slice(0, 5)).toEqual([
      'info ***',
      '    detail ***',
      '  ! warn ***',
      '  ✗ error ***',
      '  ✗ base64 ***',
    ])
    expect(sink.lines.some((line) => line.includes('skipped (because ***)'))).toBe(true)
  })

  it('does not mask with a redactor it was not given', () => {
    const sink = memorySink()
    const log = new Logger({ sink, redactor: new Redactor() })
    log.info(`info ${SECRET}`)
    expect(sink.lines).toEqual([`info ${SECRET}`])
  })
})

describe('formatMs', () => {
  it('says ms below a second and seconds with one decimal above', () => {
    expect(formatMs(0)).toBe('0 ms')
    expect(formatMs(999.4)).toBe('999 ms')
    expect(formatMs(1000)).toBe('1.0 s')
    expect(formatMs(61_250)).toBe('61.3 s')
  })
})
