import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import type { BootstrapError } from '../core/errors.ts'
import { run } from '../core/exec.ts'
import {
  decryptWith,
  encryptTo,
  generateIdentity,
  parseIdentityFile,
  readKeyFile,
  recipientOf,
  writeKeyFile,
} from './age.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'age-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Every text an error carries, to check that no key leaks into any of it. */
function textOf(error: unknown): string {
  const e = error as BootstrapError & { cause?: unknown }
  return [e.message, e.hint ?? '', e.cause instanceof Error ? e.cause.message : ''].join('\n')
}

describe('keys', () => {
  it('generates an X25519 identity and its recipient, as the real age-keygen derives it', async () => {
    const { identity, recipient } = await generateIdentity()
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/)
    expect(recipient).toMatch(/^age1[0-9a-z]+$/)
    expect(await recipientOf(identity)).toBe(recipient)

    const file = join(dir, 'gen.txt')
    await writeKeyFile(file, identity)
    const { stdout } = await run('age-keygen', ['-y', file])
    expect(stdout.trim()).toBe(recipient)
  })

  it('refuses a malformed identity without quoting it', async () => {
    const bogus = 'AGE-SECRET-KEY-1NOTAREALKEYATALL'
    const error = await caught(recipientOf(bogus))
    expect(textOf(error)).not.toContain(bogus)
  })
})

describe('encryptTo / decryptWith', () => {
  it('round-trips armored text for several recipients; each key decrypts', async () => {
    const a = await generateIdentity()
    const b = await generateIdentity()
    const armored = await encryptTo([a.recipient, b.recipient], 'backup\nof a key\n')
    expect(armored).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/)
    expect(await decryptWith([a.identity], armored)).toBe('backup\nof a key\n')
    expect(await decryptWith([b.identity], armored)).toBe('backup\nof a key\n')
  })

  it('fails with a BootstrapError, naming no key, when no identity matches', async () => {
    const a = await generateIdentity()
    const other = await generateIdentity()
    const armored = await encryptTo([a.recipient], 'secret')
    const error = await caught(decryptWith([other.identity], armored))
    expect(error.message).toMatch(/could not decrypt/)
    expect(textOf(error)).not.toContain(other.identity)
    expect(textOf(error)).not.toContain(a.identity)
  })

  it('refuses text that is not an armored age file', async () => {
    const a = await generateIdentity()
    await caught(decryptWith([a.identity], 'hello'))
  })

  it('interoperates with the real age binary both ways', async () => {
    const key = await generateIdentity()
    const keyFile = join(dir, 'interop.txt')
    await writeKeyFile(keyFile, key.identity)

    const armored = await encryptTo([key.recipient], 'from typescript')
    const input = join(dir, 'interop.age')
    await writeFile(input, armored)
    expect((await run('age', ['--decrypt', '-i', keyFile, input])).stdout).toBe('from typescript')

    const { stdout } = await run('age', ['--encrypt', '--armor', '-r', key.recipient], { input: 'from age' })
    expect(await decryptWith([key.identity], stdout)).toBe('from age')
  })
})

describe('parseIdentityFile', () => {
  it('reads several keys with comments and blank lines', async () => {
    const a = await generateIdentity()
    const b = await generateIdentity()
    const text = `# created: 2026-01-01T00:00:00Z\n# public key: ${a.recipient}\n${a.identity}\n\n# public key: ${b.recipient}\r\n${b.identity}\r\n`
    expect(await parseIdentityFile(text)).toEqual([a, b])
  })

  it('reads a file written by the real age-keygen', async () => {
    const file = join(dir, 'keygen.txt')
    await run('age-keygen', ['-o', file])
    const [pair] = await parseIdentityFile(await readFile(file, 'utf8'))
    expect(pair?.recipient).toBe((await run('age-keygen', ['-y', file])).stdout.trim())
  })

  it('refuses a "# public key" comment that does not match its key, without printing the key', async () => {
    const a = await generateIdentity()
    const b = await generateIdentity()
    const error = await caught(parseIdentityFile(`# public key: ${b.recipient}\n${a.identity}\n`, 'keys.txt'))
    expect(error.message).toContain('keys.txt: line 2')
    expect(error.message).toContain(b.recipient)
    expect(textOf(error)).not.toContain(a.identity)
  })

  it('names the line of something that is not an identity, without quoting it', async () => {
    const line = 'password=hunter2-very-secret'
    const error = await caught(parseIdentityFile(`# comment\n${line}\n`, 'keys.txt'))
    expect(error.message).toContain('line 2')
    expect(textOf(error)).not.toContain('hunter2')
  })

  it('refuses a file with no identity', async () => {
    await caught(parseIdentityFile('# only a comment\n'))
  })
})

describe('writeKeyFile / readKeyFile', () => {
  it('writes age-keygen format, 0600 in a new 0700 folder, and reads it back without warning', async () => {
    const key = await generateIdentity()
    const file = join(dir, 'new', 'nested', 'keys.txt')
    const now = new Date('2026-11-23T10:20:30.456Z')
    expect(await writeKeyFile(file, key.identity, { now })).toEqual(key)
    expect(await readFile(file, 'utf8')).toBe(
      `# created: 2026-11-23T10:20:30Z\n# public key: ${key.recipient}\n${key.identity}\n`,
    )
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'new', 'nested'))).mode & 0o777).toBe(0o700)
    expect((await stat(join(dir, 'new'))).mode & 0o777).toBe(0o700)
    expect(await readKeyFile(file)).toEqual({ keys: [key] })
  })

  it('leaves an existing parent folder as it is', async () => {
    const before = (await stat(dir)).mode & 0o777
    const key = await generateIdentity()
    await writeKeyFile(join(dir, 'top.txt'), key.identity)
    expect((await stat(dir)).mode & 0o777).toBe(before)
  })

  it('refuses to overwrite an existing key file unless asked', async () => {
    const first = await generateIdentity()
    const second = await generateIdentity()
    const file = join(dir, 'once.txt')
    await writeKeyFile(file, first.identity)
    const error = await caught(writeKeyFile(file, second.identity))
    expect(error.message).toContain(file)
    expect(textOf(error)).not.toContain(second.identity)
    expect((await readKeyFile(file)).keys).toEqual([first])

    await writeKeyFile(file, second.identity, { overwrite: true })
    expect((await readKeyFile(file)).keys).toEqual([second])
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('warns, without failing, when the key file is readable by others', async () => {
    const key = await generateIdentity()
    const file = join(dir, 'wide.txt')
    await writeKeyFile(file, key.identity)
    await chmod(file, 0o644)
    const { keys, warning } = await readKeyFile(file)
    expect(keys).toEqual([key])
    expect(warning).toContain('0644')
    expect(warning).toContain(`chmod 600 ${file}`)
    expect(warning).not.toContain(key.identity)
  })

  it('names a missing key file', async () => {
    const file = join(dir, 'absent.txt')
    const error = await caught(readKeyFile(file))
    expect(error.message).toBe(`age key file ${file} does not exist`)
  })
})
