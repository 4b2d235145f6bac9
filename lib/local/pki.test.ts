import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeServerAuthOnlyEtcdCert } from '../../tests/helpers/server-auth-only-etcd-cert.ts'
import { Logger } from '../runner/log.ts'
import { ensurePki, type Pki } from './pki.ts'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

let dir: string
let said: string[]
const log = () => new Logger({ sink: { out: (line) => said.push(line), err: (line) => said.push(line) } })
const usages = (file: string) => new X509Certificate(readFileSync(file)).keyUsage ?? []
const files = (pki: Pki) =>
  [pki.ca, pki.apiserver, pki.etcd, pki.etcdClient, pki.repoServer, ...Object.values(pki.clients)].flatMap(
    (pair) => [pair.cert, pair.key],
  )
const contents = (pki: Pki) =>
  Object.fromEntries(files(pki).map((file) => [file, readFileSync(file, 'utf8')]))

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pb-pki-test-'))
  said = []
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('ensurePki (real openssl)', () => {
  it("issues etcd's serving certificate for client auth too: etcd's gRPC gateway presents it to etcd", async () => {
    const pki = await ensurePki({ dir, log: log() })
    expect(usages(pki.etcd.cert).sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort())
    expect(usages(pki.apiserver.cert)).toEqual([SERVER_AUTH])
    expect(usages(pki.repoServer.cert)).toEqual([SERVER_AUTH])
    expect(usages(pki.etcdClient.cert)).toEqual([CLIENT_AUTH])
  })

  it('reissues an etcd certificate made for server auth only, and nothing else', async () => {
    const pki = await ensurePki({ dir, log: log() })
    // What an older run issued: the same names, serverAuth alone, signed by the same CA.
    await writeServerAuthOnlyEtcdCert(pki)
    expect(usages(pki.etcd.cert)).toEqual([SERVER_AUTH])
    const before = contents(pki)
    said = []

    await ensurePki({ dir, log: log() })

    expect(said).toEqual([`    pki: issued etcd in ${dir}`])
    expect(usages(pki.etcd.cert)).toContain(CLIENT_AUTH)
    const after = contents(pki)
    const changed = Object.keys(before).filter((file) => before[file] !== after[file])
    expect(changed.sort()).toEqual([pki.etcd.cert, pki.etcd.key].sort())
  })

  it('reuses everything when nothing is missing', async () => {
    const pki = await ensurePki({ dir, log: log() })
    const before = contents(pki)
    said = []
    await ensurePki({ dir, log: log() })
    expect(said).toEqual([`    pki: reusing ${dir}`])
    expect(contents(pki)).toEqual(before)
  })
})
