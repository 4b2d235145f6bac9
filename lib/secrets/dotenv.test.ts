import { describe, expect, it } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import { value } from '../../tests/helpers/secrets-fixtures.ts'
import { parseDotenv } from './dotenv.ts'

describe('parseDotenv', () => {
  it('reads KEY=value lines, export, quotes, comments and blank lines', () => {
    const entries = parseDotenv(
      [
        '# a comment',
        '',
        'PLAIN=abc',
        'export EXPORTED=def',
        'SPACED = ghi  ',
        'DOUBLE="two\\nlines # not a comment"',
        "SINGLE='lit\\n' # trailing comment",
        'INLINE=value # comment',
        'HASH=a#b',
        'EMPTY=',
      ].join('\n'),
    )
    expect(entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ['PLAIN', 'abc', 3],
      ['EXPORTED', 'def', 4],
      ['SPACED', 'ghi', 5],
      ['DOUBLE', 'two\nlines # not a comment', 6],
      ['SINGLE', 'lit\\n', 7],
      ['INLINE', 'value', 8],
      ['HASH', 'a#b', 9],
      ['EMPTY', '', 10],
    ])
  })

  it('names every line that is not KEY=value, and never quotes the line', async () => {
    const pasted = value('pasted-token')
    const error = await caught(() =>
      parseDotenv(`GOOD=1\n${pasted}\nBAD KEY=x\nOPEN="never closed\n`, '.env'),
    )
    expect(error.message).toContain('line 2 is not KEY=value')
    expect(error.message).toContain('line 3 is not KEY=value')
    expect(error.message).toContain('line 4 (OPEN)')
    expect(error.message).toContain('nothing was written')
    expect(error.message).not.toContain(pasted)
    expect(error.exitCode).toBe(2)
  })
})
