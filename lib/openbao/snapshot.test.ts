import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaSync } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity } from '../bootstrap-secrets/age.ts'
import { BootstrapError } from '../core/errors.ts'
import {
  downloadSnapshot,
  readSnapshot,
  readSnapshotHeader,
  uploadSnapshot,
  writeSnapshot,
} from './snapshot.ts'

const dir = mkdtempSync(join(tmpdir(), 'pb-snapshot-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A gzip'd tar as OpenBao sends one: meta.json, state.bin, SHA256SUMS and (unless left out) SHA256SUMS.sealed. */
function snapshotTarball(withSealed = true): Buffer {
  const src = mkdtempSync(join(dir, 'src-'))
  const names = ['meta.json', 'state.bin', 'SHA256SUMS', ...(withSealed ? ['SHA256SUMS.sealed'] : [])]
  for (const name of names) writeFileSync(join(src, name), `${name} content ${'x'.repeat(700)}`)
  execaSync('tar', ['-czf', join(src, 'out.tar.gz'), '-C', src, ...names])
  return readFileSync(join(src, 'out.tar.gz'))
}

describe('the snapshot file', () => {
  it('is age-encrypted to the given keys, with a header a person can read, and no plaintext in it', async () => {
    const personal = await generateIdentity()
    const cluster = await generateIdentity()
    const file = join(dir, 'env', 'openbao-snapshot.age')
    const bytes = snapshotTarball()
    const init = { admin_token: 's.planted-admin-token-123', recovery_key_1: 'planted-recovery-key-abc' }
    await writeSnapshot(file, { takenAt: '2026-12-03T18:00:00.000Z', bytes, init }, [
      personal.recipient,
      cluster.recipient,
    ])
    const text = readFileSync(file, 'utf8')
    expect(text.split('\n').slice(0, 3)).toEqual([
      '# platform-bootstrap OpenBao snapshot',
      '# taken: 2026-12-03T18:00:00.000Z',
      `# recipients: ${personal.recipient}, ${cluster.recipient}`,
    ])
    for (const value of [...Object.values(init), bytes.toString('base64').slice(0, 40)])
      expect(text).not.toContain(value)
    expect(readSnapshotHeader(file)).toEqual({
      takenAt: '2026-12-03T18:00:00.000Z',
      recipients: [personal.recipient, cluster.recipient],
    })
    // Either key reads it back byte for byte.
    for (const key of [personal, cluster]) {
      const back = await readSnapshot(file, [key.identity], 'keys.txt')
      expect(back.bytes.equals(bytes)).toBe(true)
      expect(back.init).toEqual(init)
      expect(back.takenAt).toBe('2026-12-03T18:00:00.000Z')
    }
  })

  it('one no key here decrypts is refused, naming the file, when it was taken and its recipients', async () => {
    const stranger = await generateIdentity()
    const mine = await generateIdentity()
    const file = join(dir, 'foreign.age')
    await writeSnapshot(file, { takenAt: '2026-12-01T00:00:00.000Z', bytes: snapshotTarball(), init: {} }, [
      stranger.recipient,
    ])
    const error = await readSnapshot(file, [mine.identity], '/home/me/keys.txt').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toBe(
      `${file} (taken 2026-12-01T00:00:00.000Z) is encrypted to ${stranger.recipient}, and no key in /home/me/keys.txt decrypts it`,
    )
    expect((error as BootstrapError).hint).toContain('nothing was changed')
  })
})

describe('downloadSnapshot and uploadSnapshot: the binary body, checked complete; refusals explained', () => {
  let server: Server
  let address = ''
  const answers: Record<string, Buffer> = {}
  beforeAll(async () => {
    answers.complete = snapshotTarball()
    answers.incomplete = snapshotTarball(false)
    server = createServer((request, response) => {
      const which = String(request.headers['x-vault-token'])
      if (which === 'denied') {
        response.statusCode = 403
        return response.end(JSON.stringify({ errors: ['permission denied'] }))
      }
      if (which === 'other-seal') {
        response.statusCode = 500
        return response.end(JSON.stringify({ errors: ['failed to verify hash'] }))
      }
      response.end(answers[which] ?? Buffer.from('not gzip'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise((resolve) => server.close(resolve)))

  it('takes a complete snapshot as it came', async () => {
    expect((await downloadSnapshot(address, 'complete')).equals(answers.complete as Buffer)).toBe(true)
  })

  it('refuses one without its sealed checksums (a stream cut short answers 200 too), and one that is no gzip', async () => {
    await expect(downloadSnapshot(address, 'incomplete')).rejects.toThrow(
      /incomplete snapshot \(no sealed checksums\)/,
    )
    await expect(downloadSnapshot(address, 'garbage')).rejects.toThrow(/not gzip/)
  })

  it('an upload OpenBao refuses says why, and a seal-key mismatch says what it means', async () => {
    const error = (await uploadSnapshot(address, 'other-seal', Buffer.from('x')).catch(
      (e: unknown) => e,
    )) as BootstrapError
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message).toContain('refused the snapshot: 500 failed to verify hash')
    expect(error.hint).toContain('another seal key')
  })

  it('a 403 says the admin policy needs updating', async () => {
    const error = (await downloadSnapshot(address, 'denied').catch((e: unknown) => e)) as BootstrapError
    expect(error.message).toContain('refused a snapshot: 403 permission denied')
    expect(error.hint).toContain('just openbao-setup')
  })
})
