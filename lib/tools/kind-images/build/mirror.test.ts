import { describe, expect, it } from 'vitest'
import { mirrorFrom } from './mirror.ts'

describe('mirrorFrom', () => {
  it('reads the first non-security URI of deb822 sources', () => {
    const text = [
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
    ].join('\n')
    expect(mirrorFrom(text)).toBe('http://deb.debian.org/debian')
  })

  it('reads one-line sources.list entries, options included', () => {
    expect(mirrorFrom('# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n')).toBe(
      'http://mirror.example/debian',
    )
    expect(mirrorFrom('# nothing here\n')).toBeUndefined()
  })
})
