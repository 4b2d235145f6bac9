import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeFileAtomic, writeFileAtomicSync } from './atomic-file.ts'

const dir = mkdtempSync(join(tmpdir(), 'pb-atomic-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const variants = [
  ['writeFileAtomic', writeFileAtomic],
  [
    'writeFileAtomicSync',
    async (file: string, content: string | Uint8Array, mode: number) =>
      writeFileAtomicSync(file, content, mode),
  ],
] as const

describe.each(variants)('%s', (name, write) => {
  const file = join(dir, name, 'nested', 'key')
  const identity = (path: string) => {
    const stat = lstatSync(path)
    return { ino: stat.ino, mtimeMs: stat.mtimeMs, mode: stat.mode & 0o7777 }
  }

  it('makes the folder and the file, with exactly the mode given', async () => {
    await write(file, 'first', 0o600)
    expect(readFileSync(file, 'utf8')).toBe('first')
    expect(lstatSync(file).mode & 0o7777).toBe(0o600)
  })

  it('leaves a file that holds these bytes with this mode as it is: same inode, same mtime', async () => {
    const before = identity(file)
    await write(file, 'first', 0o600)
    await write(file, Buffer.from('first'), 0o600)
    expect(identity(file)).toEqual(before)
  })

  it('replaces the file when the content differs, or only the mode does', async () => {
    const before = identity(file)
    await write(file, 'other', 0o600)
    expect(readFileSync(file, 'utf8')).toBe('other')
    expect(identity(file).ino).not.toBe(before.ino)

    chmodSync(file, 0o644)
    await write(file, 'other', 0o600)
    expect(lstatSync(file).mode & 0o7777).toBe(0o600)
  })

  it('replaces a symlink with a file of its own, never writing through it', async () => {
    const elsewhere = join(dir, `${name}-elsewhere`)
    writeFileSync(elsewhere, 'same', { mode: 0o600 })
    const link = join(dir, name, 'link')
    symlinkSync(elsewhere, link)
    await write(link, 'same', 0o600)
    expect(lstatSync(link).isSymbolicLink()).toBe(false)
    await write(link, 'changed', 0o600)
    expect(readFileSync(elsewhere, 'utf8')).toBe('same')
  })
})
