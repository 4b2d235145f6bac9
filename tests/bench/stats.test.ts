import { describe, expect, it } from 'vitest'
import {
  describeTarget,
  formatMarkdownTable,
  formatTable,
  formatValue,
  meetsTarget,
  pairedRatios,
  stats,
} from './stats.ts'

describe('stats', () => {
  it('takes the middle sample of an odd count, whatever the order', () => {
    expect(stats([5, 1, 3, 9, 2])).toEqual({ n: 5, median: 3, min: 1, max: 9 })
  })

  it('averages the two middle samples of an even count', () => {
    expect(stats([4, 1, 3, 10])).toEqual({ n: 4, median: 3.5, min: 1, max: 10 })
  })

  it('handles one sample and equal samples', () => {
    expect(stats([7])).toEqual({ n: 1, median: 7, min: 7, max: 7 })
    expect(stats([0, 0, 0, 0, 0])).toEqual({ n: 5, median: 0, min: 0, max: 0 })
  })

  it('does not reorder the caller’s array', () => {
    const samples = [3, 1, 2]
    stats(samples)
    expect(samples).toEqual([3, 1, 2])
  })

  it('refuses no samples and non-finite ones', () => {
    expect(() => stats([])).toThrow(/no samples/)
    expect(() => stats([1, Number.NaN])).toThrow(/non-finite/)
    expect(() => stats([1, Number.POSITIVE_INFINITY])).toThrow(/non-finite/)
  })
})

describe('pairedRatios', () => {
  it('divides run by run', () => {
    expect(pairedRatios([10, 30, 8], [2, 5, 4])).toEqual([5, 6, 2])
  })

  it('refuses series of different lengths and a zero divisor', () => {
    expect(() => pairedRatios([1, 2], [1])).toThrow(/differ in length/)
    expect(() => pairedRatios([1, 2], [1, 0])).toThrow(/run 2/)
  })
})

describe('targets', () => {
  const s = { n: 5, median: 1500, min: 900, max: 2500 }

  it('judges on the median by default', () => {
    expect(meetsTarget(s, { below: 2000 })).toBe(true)
    expect(meetsTarget(s, { below: 1500 })).toBe(false)
    expect(meetsTarget(s, { atLeast: 1500 })).toBe(true)
    expect(meetsTarget(s, { atLeast: 1501 })).toBe(false)
    expect(meetsTarget(s, { atMost: 1500 })).toBe(true)
    expect(meetsTarget(s, { atMost: 1499 })).toBe(false)
  })

  it('judges on every run when asked', () => {
    expect(meetsTarget(s, { below: 2000, on: 'max' })).toBe(false)
    expect(meetsTarget(s, { atLeast: 1000, on: 'min' })).toBe(false)
    expect(meetsTarget({ n: 5, median: 0, min: 0, max: 1 }, { below: 1, on: 'max' })).toBe(false)
    expect(meetsTarget({ n: 5, median: 0, min: 0, max: 0 }, { below: 1, on: 'max' })).toBe(true)
  })

  it('describes a target the way the README states it', () => {
    expect(describeTarget({ below: 2000 }, 'ms')).toBe('< 2.00 s')
    expect(describeTarget({ below: 500 }, 'ms')).toBe('< 500 ms')
    expect(describeTarget({ atLeast: 5 }, 'x')).toBe('≥ 5.00×')
    expect(describeTarget({ atMost: 3.5 }, 'x')).toBe('≤ 3.50×')
    expect(describeTarget({ below: 1, on: 'max' }, 'count')).toBe('= 0 (every run)')
    expect(describeTarget({}, 'ms')).toBe('')
  })
})

describe('formatValue', () => {
  it('gives durations a precision that fits their size', () => {
    expect(formatValue(4.24, 'ms')).toBe('4.2 ms')
    expect(formatValue(183.4, 'ms')).toBe('183 ms')
    expect(formatValue(1274, 'ms')).toBe('1.27 s')
    expect(formatValue(64_321, 'ms')).toBe('64.3 s')
  })

  it('formats ratios and counts', () => {
    expect(formatValue(7.412, 'x')).toBe('7.41×')
    expect(formatValue(12.34, 'x')).toBe('12.3×')
    expect(formatValue(36, 'count')).toBe('36')
    expect(formatValue(35.5, 'count')).toBe('35.5')
  })
})

describe('tables', () => {
  it('pads columns to the widest cell and underlines the header', () => {
    const table = formatTable(
      ['figure', 'median'],
      [
        ['cold create', '183 ms'],
        ['no-op', '42 ms'],
      ],
    )
    expect(table.split('\n')).toEqual([
      'figure       median',
      '-----------  ------',
      'cold create  183 ms',
      'no-op        42 ms',
    ])
  })

  it('counts characters, not bytes (× and ≥ line up)', () => {
    const table = formatTable(['a', 'b'], [['≥ 5×', 'x']])
    expect(table.split('\n')[2]).toBe('≥ 5×  x')
  })

  it('writes Markdown with escaped pipes', () => {
    expect(formatMarkdownTable(['a', 'b'], [['1', 'x|y']])).toBe('| a | b |\n|---|---|\n| 1 | x\\|y |')
  })
})
