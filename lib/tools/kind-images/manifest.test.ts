import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { archiveFileName, missingImages, readManifest, writeManifest } from './manifest.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('archive manifest', () => {
  it('names one tarball per image from its reference', () => {
    expect(archiveFileName('quay.io/argoproj/argocd:v3.6.1')).toBe('quay.io_argoproj_argocd_v3.6.1.tar')
    expect(archiveFileName('busybox:1.37.0')).toBe('busybox_1.37.0.tar')
  })

  it('lists what is missing: unlisted images and listed files that are gone or empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kind-manifest-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'a.tar'), 'x')
    writeFileSync(join(dir, 'b.tar'), '')
    writeManifest(dir, {
      key: 'k',
      createdAt: '2026-12-05T00:00:00Z',
      seconds: 1,
      archives: [
        { file: 'a.tar', images: ['a:1'], source: 'test' },
        { file: 'b.tar', images: ['b:1'], source: 'test' },
        { file: 'c.tar', images: ['c:1'], source: 'test' },
      ],
    })
    const manifest = readManifest(dir)
    expect(manifest?.archives).toHaveLength(3)
    expect(missingImages(dir, manifest, ['a:1', 'b:1', 'c:1', 'd:1'])).toEqual(['b:1', 'c:1', 'd:1'])
    expect(missingImages(dir, undefined, ['a:1'])).toEqual(['a:1'])
    expect(readManifest(join(dir, 'nowhere'))).toBeUndefined()
  })
})
