import { describe, expect, it } from 'vitest'
import { checksumFor } from './download.ts'

describe('helpers', () => {
  it('reads both checksum file shapes', () => {
    const hash = 'a'.repeat(64)
    expect(checksumFor(`${hash}\n`, 'kubectl')).toBe(hash)
    expect(
      checksumFor(`${'b'.repeat(64)}  other.tar.gz\n${hash} *sops-v3.linux.amd64\n`, 'sops-v3.linux.amd64'),
    ).toBe(hash)
    expect(checksumFor(`${hash}  other\n`, 'mine')).toBeUndefined()
  })
})
