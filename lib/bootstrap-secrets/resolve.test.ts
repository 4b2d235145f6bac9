import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type OpenBaoDev, startOpenBaoDev } from '../../tests/helpers/openbao-dev.ts'
import { silentServer } from '../../tests/helpers/silent-server.ts'
import { BootstrapError } from '../core/errors.ts'
import { run } from '../core/exec.ts'
import { redactor } from '../core/redact.ts'
import { freePort } from '../local/process/ports.ts'
import { decrypt, writeEncrypted } from '../sops/index.ts'
import { generateIdentity, writeKeyFile } from './age.ts'
import {
  type ResolveDeps,
  type ResolvedSecrets,
  type ResolveOptions,
  resolveBootstrapSecrets,
  tokenFromFile,
} from './resolve.ts'

// A real OpenBao dev server and real sops files: the only stand-in is the silent TCP
// listener below, because "accepts the connection, never answers" is not a state
// a real server can be put in.
const PEM =
  '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU  spaces kept  \n"quotes kept"\n-----END CERTIFICATE-----\n'
const VAULT = {
  GITHUB_TOKEN: 'ghp_fromVaultPlanted0123456789',
  VAULT_CA_CRT: PEM,
  PADDED: "  'padded and quoted'  \n",
}
const SOPS = {
  GITHUB_TOKEN: 'ghp_fromSopsMustNotWin987654321',
  VAULT_CA_CRT: '-----BEGIN CERTIFICATE-----\nSOPSCOPYSHOULDNOTWIN0000\n-----END CERTIFICATE-----\n',
  PADDED: 'sops-padded-should-not-win',
  TALOS_SECRETBOX_KEY: 'talos-from-sops-planted-key',
  TAILSCALE_CLIENT_ID: 'tailscale-from-sops-id',
}
const ALL_PLANTED = [...Object.values(VAULT), ...Object.values(SOPS)]

const KV_PATH = 'secret/data/test-cluster/bootstrap'
const FIELDS = ['GITHUB_TOKEN', 'VAULT_CA_CRT', 'PADDED', 'TALOS_SECRETBOX_KEY']

let dir: string
let bao: OpenBaoDev
let scopedToken: string
let sopsFile: string
let ageKeyFile: string
const everyText: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vault-test-'))
  const key = await generateIdentity()
  ageKeyFile = join(dir, 'keys.txt')
  await writeKeyFile(ageKeyFile, key.identity)
  sopsFile = join(dir, 'secrets.sops.yaml')
  await writeEncrypted(sopsFile, SOPS, [key.recipient], {
    run: (c, a, o) => run(c, a, { ...o, cwd: dir }),
    env: process.env,
  })

  bao = await startOpenBaoDev()
  await bao.writeKv('test-cluster/bootstrap', VAULT)
  await bao.writePolicy('bootstrap-read', `path "${KV_PATH}" { capabilities = ["read"] }`)
  scopedToken = await bao.createToken(['bootstrap-read'])
}, 60_000)

afterAll(async () => {
  await bao?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function tokenFile(content: string): Promise<string> {
  const file = join(dir, `token-${Math.random().toString(36).slice(2)}`)
  await writeFile(file, content, { mode: 0o600 })
  return file
}

interface Run {
  result?: ResolvedSecrets
  error?: BootstrapError
  logged: string[]
  decrypts: number
  ms: number
}

async function resolve(
  options: Partial<ResolveOptions> & { vault?: ResolveOptions['vault'] },
  deps: Partial<ResolveDeps> = {},
): Promise<Run> {
  const logged: string[] = []
  let decrypts = 0
  const started = performance.now()
  const out: Run = { logged, decrypts: 0, ms: 0 }
  try {
    out.result = await resolveBootstrapSecrets(
      { sopsFile, fields: FIELDS, ageKeyFile, ...options },
      {
        decryptSops: (file, opts) => {
          decrypts++
          return decrypt(file, opts)
        },
        log: { warn: (m) => logged.push(m), detail: (m) => logged.push(m) },
        ...deps,
      },
    )
  } catch (error) {
    if (!(error instanceof BootstrapError)) throw error
    out.error = error
    everyText.push(error.message, error.hint ?? '')
  }
  out.ms = performance.now() - started
  out.decrypts = decrypts
  everyText.push(...logged, ...(out.result?.warnings ?? []))
  return out
}

const vaultAt = (tokenPath: string, extra: Partial<NonNullable<ResolveOptions['vault']>> = {}) => ({
  address: bao.address,
  kvPath: KV_PATH,
  tokenFile: tokenPath,
  ...extra,
})

describe('Vault first, SOPS fills the gaps', () => {
  it('takes what Vault has, fills only the missing field from SOPS, never replaces a Vault value', async () => {
    const { result, decrypts } = await resolve({ vault: vaultAt(await tokenFile(scopedToken)) })
    expect(result?.values).toEqual({ ...VAULT, TALOS_SECRETBOX_KEY: SOPS.TALOS_SECRETBOX_KEY })
    expect(result?.sources).toEqual({
      GITHUB_TOKEN: 'vault',
      VAULT_CA_CRT: 'vault',
      PADDED: 'vault',
      TALOS_SECRETBOX_KEY: 'sops',
    })
    expect(decrypts).toBe(1)
    expect(result?.warnings.join('\n')).toContain(`vault path ${KV_PATH} lacks TALOS_SECRETBOX_KEY`)
    // Sources hold names only.
    for (const source of Object.values(result?.sources ?? {})) expect(['vault', 'sops']).toContain(source)
  })

  it('keeps a PEM value and a padded, quoted value byte for byte', async () => {
    const { result } = await resolve({ vault: vaultAt(await tokenFile(scopedToken)) })
    expect(result?.values.VAULT_CA_CRT).toBe(PEM)
    expect(Buffer.from(result?.values.VAULT_CA_CRT ?? '').equals(Buffer.from(PEM))).toBe(true)
    expect(result?.values.PADDED).toBe(VAULT.PADDED)
  })

  it('does not decrypt SOPS when Vault has every required field; optional fields alone do not make it', async () => {
    const { result, decrypts } = await resolve({
      vault: vaultAt(await tokenFile(scopedToken)),
      fields: ['GITHUB_TOKEN', 'VAULT_CA_CRT'],
      optionalFields: ['TAILSCALE_CLIENT_ID'],
    })
    expect(decrypts).toBe(0)
    expect(result?.values).toEqual({ GITHUB_TOKEN: VAULT.GITHUB_TOKEN, VAULT_CA_CRT: PEM })
    expect(result?.warnings).toEqual([])
  })

  it('fills optional fields from SOPS once SOPS is decrypted anyway', async () => {
    const { result } = await resolve({
      vault: vaultAt(await tokenFile(scopedToken)),
      optionalFields: ['TAILSCALE_CLIENT_ID', 'NOT_ANYWHERE'],
    })
    expect(result?.sources.TAILSCALE_CLIENT_ID).toBe('sops')
    expect(result?.values).not.toHaveProperty('NOT_ANYWHERE')
  })

  it('reads a token file with quotes, spaces and a trailing newline', async () => {
    const { result } = await resolve({ vault: vaultAt(await tokenFile(`  "${scopedToken}"\n\n`)) })
    expect(result?.sources.GITHUB_TOKEN).toBe('vault')
    expect(tokenFromFile(`'${scopedToken}'\r\n`)).toEqual({ token: scopedToken })
  })

  it('reads a token file copied from a shell profile: VAULT_TOKEN=… or export VAULT_TOKEN="…"', async () => {
    const { result } = await resolve({
      vault: vaultAt(await tokenFile(`export VAULT_TOKEN="${scopedToken}"\n`)),
    })
    expect(result?.sources.GITHUB_TOKEN).toBe('vault')
    for (const line of [
      `VAULT_TOKEN=${scopedToken}`,
      `BAO_TOKEN='${scopedToken}'`,
      `# mine\nexport VAULT_TOKEN=${scopedToken}`,
    ])
      expect(tokenFromFile(line)).toEqual({ token: scopedToken })
  })

  it('says which values are too short to mask, never what they are, and masks no word for them', async () => {
    const run = await resolve(
      { fields: ['FLAG', 'EMPTYISH', 'TOKEN'] },
      { decryptSops: async () => ({ FLAG: 'true', EMPTYISH: 'null', TOKEN: 'a-real-long-secret-value' }) },
    )
    expect(run.result?.values.FLAG).toBe('true')
    expect(run.result?.warnings).toContainEqual(
      'FLAG, EMPTYISH: shorter than 8 characters, too short to mask without mangling ordinary words, so output does not mask them',
    )
    expect(redactor.mask('generateMissingSecrets: true, context: null')).toBe(
      'generateMissingSecrets: true, context: null',
    )
  })

  it('refuses a token file that holds more than a token, naming the file and the shape it must have', async () => {
    for (const [content, said] of [
      ['VAULT_ADDR=http://x\nVAULT_TOKEN=s.abc', 'holds 2 lines'],
      ['TOKEN=s.abc', 'holds an assignment to TOKEN'],
      ['s.abc s.def', 'holds more than a token'],
      ['\n# nothing\n', 'is empty'],
    ] as const) {
      const read = tokenFromFile(content)
      expect(read, content).toEqual({ refused: expect.stringContaining(said) })
    }
    const file = await tokenFile('VAULT_ADDR=http://127.0.0.1:8200\nVAULT_TOKEN=s.abc\n')
    const run = await resolve({ vault: vaultAt(file) })
    expect(run.result?.sources.GITHUB_TOKEN).toBe('sops')
    expect(run.result?.warnings.join('\n')).toContain(
      `token file ${file} holds 2 lines: it must hold the token alone, or one line VAULT_TOKEN=<token>`,
    )
  })

  it('a token too short to mask (a dev root token) is used, and the run says it is not masked', async () => {
    const dev = await startOpenBaoDev({ rootToken: 'root' })
    try {
      await dev.writeKv('test-cluster/bootstrap', VAULT)
      const run = await resolve({ vault: { ...vaultAt(await tokenFile('root')), address: dev.address } })
      expect(run.result?.sources.GITHUB_TOKEN).toBe('vault')
      expect(run.result?.warnings.join('\n')).toMatch(
        /is 4 characters long — a dev server's root token\? Too short to mask/,
      )
      // Nothing else is mangled: ordinary words holding "root" print as they are.
      expect(redactor.mask('[07] root-app in /root/.cache')).toBe('[07] root-app in /root/.cache')
    } finally {
      await dev.stop()
    }
  })

  it('renews the token first; a renew failure is only a warning', async () => {
    // The dev root token has no TTL: renew-self answers 400 "lease is not renewable".
    const { result } = await resolve({ vault: vaultAt(await tokenFile(bao.rootToken)) })
    expect(result?.sources.GITHUB_TOKEN).toBe('vault')
    expect(result?.warnings.join('\n')).toMatch(/token renew-self failed \(400 lease is not renewable\)/)
  })

  it('renews a renewable token without a warning', async () => {
    const { result } = await resolve({
      vault: vaultAt(await tokenFile(scopedToken)),
      fields: ['GITHUB_TOKEN'],
    })
    expect(result?.warnings).toEqual([])
    const lookup = await bao.api('GET', 'auth/token/lookup-self', undefined, scopedToken)
    expect((lookup.body as { data: { renewable: boolean } }).data.renewable).toBe(true)
  })

  it('ignores VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX in the environment', async () => {
    vi.stubEnv('VAULT_ADDR', `http://127.0.0.1:${await freePort()}`)
    vi.stubEnv('VAULT_TOKEN', 's.wrong')
    vi.stubEnv('VAULT_NAMESPACE', 'elsewhere')
    vi.stubEnv('VAULT_PREFIX', '/wrong')
    try {
      const { result } = await resolve({
        vault: vaultAt(await tokenFile(scopedToken)),
        fields: ['GITHUB_TOKEN'],
      })
      expect(result?.sources).toEqual({ GITHUB_TOKEN: 'vault' })
      expect(result?.warnings).toEqual([])
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it('uses SOPS alone when no Vault is configured', async () => {
    const { result } = await resolve({})
    expect(result?.values).toEqual({
      GITHUB_TOKEN: SOPS.GITHUB_TOKEN,
      VAULT_CA_CRT: SOPS.VAULT_CA_CRT,
      PADDED: SOPS.PADDED,
      TALOS_SECRETBOX_KEY: SOPS.TALOS_SECRETBOX_KEY,
    })
    expect(new Set(Object.values(result?.sources ?? {}))).toEqual(new Set(['sops']))
  })
})

describe('falls back to SOPS, saying why', () => {
  function expectSopsFallback(run: Run, cause: RegExp) {
    expect(run.error).toBeUndefined()
    expect(run.result?.sources.GITHUB_TOKEN).toBe('sops')
    expect(run.result?.values.GITHUB_TOKEN).toBe(SOPS.GITHUB_TOKEN)
    const warning = run.result?.warnings.find((w) => w.includes(`— using ${sopsFile}`))
    expect(warning).toMatch(cause)
    expect(run.logged.join('\n')).toContain(warning)
  }

  it('403: a wrong token', async () => {
    const run = await resolve({ vault: vaultAt(await tokenFile('s.not-a-real-token')) })
    expectSopsFallback(
      run,
      /vault at http:\/\/127\.0\.0\.1:\d+ denied the token from .* reading secret\/data\/test-cluster\/bootstrap \(403 permission denied: expired, revoked, or its policy lacks read on that path\)/,
    )
  })

  it('403 for something that is no token: says the file is the likelier cause', async () => {
    const run = await resolve({ vault: vaultAt(await tokenFile('my-vault-password')) })
    expectSopsFallback(
      run,
      /403 permission denied: the file's content does not look like a Vault\/OpenBao token/,
    )
  })

  it('403: a valid token without a policy for the path', async () => {
    const noPolicy = await bao.createToken(['default'])
    const run = await resolve({ vault: vaultAt(await tokenFile(noPolicy)) })
    expectSopsFallback(run, /403 permission denied/)
  })

  it('404: a path holding no secret', async () => {
    const run = await resolve({
      vault: vaultAt(await tokenFile(bao.rootToken), { kvPath: 'secret/data/nobody/bootstrap' }),
    })
    expectSopsFallback(run, /has no secret at secret\/data\/nobody\/bootstrap \(404\)/)
  })

  it('a missing token file, without touching the network', async () => {
    const missing = join(dir, 'no-such-token')
    const run = await resolve({
      vault: { address: 'http://192.0.2.1:8200', kvPath: KV_PATH, tokenFile: missing },
    })
    expectSopsFallback(run, new RegExp(`token file ${missing} does not exist`))
    expect(run.ms).toBeLessThan(2000)
  })

  it('an empty token file', async () => {
    const run = await resolve({ vault: vaultAt(await tokenFile(' \n"" \n')) })
    expectSopsFallback(run, /is empty/)
  })

  it('unreachable: a closed port, refused at once', async () => {
    const port = await freePort()
    const run = await resolve({
      vault: {
        address: `http://127.0.0.1:${port}`,
        kvPath: KV_PATH,
        tokenFile: await tokenFile(scopedToken),
      },
    })
    expectSopsFallback(
      run,
      new RegExp(`vault at http://127\\.0\\.0\\.1:${port} unreachable \\(connect ECONNREFUSED\\)`),
    )
    // The whole resolve, sops decrypt included: well under the 3 s reachability budget.
    expect(run.ms).toBeLessThan(2000)
  })

  it('unreachable: localhost on a closed port (Node reports a dual-stack refusal as an AggregateError)', async () => {
    const port = await freePort()
    const run = await resolve({
      vault: {
        address: `http://localhost:${port}`,
        kvPath: KV_PATH,
        tokenFile: await tokenFile(scopedToken),
      },
    })
    expectSopsFallback(run, /unreachable \(connect ECONNREFUSED\)/)
    expect(run.ms).toBeLessThan(2000)
  })

  it('unreachable: a port that accepts TCP and never answers costs about the timeout', async () => {
    const silent = await silentServer()
    const port = silent.port
    try {
      const run = await resolve({
        vault: {
          address: `http://127.0.0.1:${port}`,
          kvPath: KV_PATH,
          tokenFile: await tokenFile(scopedToken),
          timeoutMs: 1000,
        },
      })
      expectSopsFallback(run, /unreachable \(no answer within 1000 ms\)/)
      expect(run.ms).toBeGreaterThanOrEqual(950)
      // One timeout (renew), not two: a silent Vault is not asked a second time.
      expect(run.ms).toBeLessThan(1950)
    } finally {
      await silent.close()
    }
  })

  it('the default reachability budget is 3 s', async () => {
    const silent = await silentServer()
    const port = silent.port
    try {
      const run = await resolve({
        vault: {
          address: `http://127.0.0.1:${port}`,
          kvPath: KV_PATH,
          tokenFile: await tokenFile(scopedToken),
        },
      })
      expectSopsFallback(run, /no answer within 3000 ms/)
      expect(run.ms).toBeLessThan(4500)
    } finally {
      await silent.close()
    }
  })

  it('the overall deadline holds even when the client itself never settles', async () => {
    const run = await resolve(
      { vault: vaultAt(await tokenFile(scopedToken), { timeoutMs: 300 }) },
      {
        vaultCall: () => () => new Promise(() => {}),
      },
    )
    expectSopsFallback(run, /no answer within 300 ms/)
    expect(run.ms).toBeLessThan(1200)
  })

  it('sealed', async () => {
    const sealed = await startOpenBaoDev()
    try {
      await sealed.writeKv('test-cluster/bootstrap', VAULT)
      await sealed.seal()
      const run = await resolve({
        vault: { address: sealed.address, kvPath: KV_PATH, tokenFile: await tokenFile(sealed.rootToken) },
      })
      expectSopsFallback(run, new RegExp(`vault at ${sealed.address.replace(/\./g, '\\.')} is sealed`))
    } finally {
      await sealed.stop()
    }
  })
})

describe('fails, naming what is missing and where it looked', () => {
  it('a field in neither source', async () => {
    const { error } = await resolve({
      vault: vaultAt(await tokenFile(scopedToken)),
      fields: ['GITHUB_TOKEN', 'NOWHERE_ONE', 'NOWHERE_TWO'],
    })
    expect(error?.message).toContain('bootstrap secrets missing: NOWHERE_ONE, NOWHERE_TWO')
    expect(error?.message).toContain(KV_PATH)
    expect(error?.message).toContain(sopsFile)
  })

  it('Vault partial and the SOPS fallback undecryptable: the missing fields, the path, the file and the recipients', async () => {
    const stranger = await generateIdentity()
    const strangerKey = join(dir, 'stranger.txt')
    await writeKeyFile(strangerKey, stranger.identity)
    const { error } = await resolve({ vault: vaultAt(await tokenFile(scopedToken)), ageKeyFile: strangerKey })
    expect(error?.message).toContain('TALOS_SECRETBOX_KEY')
    expect(error?.message).toContain(KV_PATH)
    expect(error?.message).toContain(sopsFile)
    expect(error?.message).toContain('no available age key decrypts')
    expect(error?.message).toContain(strangerKey)
    expect(error?.hint).toBeTruthy()
  })

  it('Vault unreachable and the SOPS file missing', async () => {
    const port = await freePort()
    const missing = join(dir, 'absent.sops.yaml')
    const { error, result } = await resolve({
      vault: {
        address: `http://127.0.0.1:${port}`,
        kvPath: KV_PATH,
        tokenFile: await tokenFile(scopedToken),
      },
      sopsFile: missing,
    })
    expect(result).toBeUndefined()
    expect(error?.message).toContain(missing)
    expect(error?.message).toContain('GITHUB_TOKEN')
  })
})

// Last in the file: tests run in order, so it sees what every run above logged, warned and threw.
describe('leaks', () => {
  it('no planted value or token appears in any warning, log line or error of the runs above', () => {
    expect(everyText.length).toBeGreaterThan(20)
    const all = everyText.join('\n')
    for (const value of ALL_PLANTED) {
      for (const line of value.split('\n').filter((l) => l.trim().length >= 8))
        expect(all).not.toContain(line.trim())
    }
    expect(all).not.toContain(scopedToken)
    expect(all).not.toContain(bao.rootToken)
  })
})
