import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { type EnvConfig, loadConfig } from '../runner/config.ts'
import { Logger } from '../runner/log.ts'
import { decrypt, recipientsOf } from '../sops/index.ts'
import { encryptTo, readKeyFile, recipientOf } from './age.ts'
import { ensureFirstRunSecrets } from './first-run.ts'

// The real sops and age: the key file and the secrets file live in a temp folder.
const dir = mkdtempSync(join(tmpdir(), 'bootstrap-test-'))
const keyFile = join(dir, 'config', 'sops', 'age', 'keys.txt')
const sopsFile = join(dir, 'secrets.sops.yaml')

const local = loadConfig('local')
// The workspace is the environment's checkout: nothing it makes may land in this one.
const env: EnvConfig = { ...local, root: dir, secrets: { ...local.secrets, sopsFile, vault: undefined } }
const demoSecret = join(dir, 'gitops', 'overlays', 'local', 'secrets', 'demo-credentials.secret.yaml')
// The environment's gitops tree, for what reads it (the demo Secret's folder, the overlays' generators).
cpSync(join(repoRoot, 'gitops'), join(dir, 'gitops'), {
  recursive: true,
  filter: (src) => !src.includes(join('overlays', 'local', 'secrets')),
})

function logger() {
  const sink = memorySink()
  return { log: new Logger({ sink }), lines: sink.lines }
}

beforeAll(() => {
  vi.stubEnv('SOPS_AGE_KEY_FILE', keyFile)
})
afterAll(() => {
  vi.unstubAllEnvs()
  rmSync(dir, { recursive: true, force: true })
})

describe('ensureFirstRunSecrets', () => {
  let firstValues: Record<string, string>
  let firstBytes: Buffer

  it('on the first run makes the personal key (0600) and an encrypted file with every field', async () => {
    expect(existsSync(keyFile)).toBe(false)
    const { log, lines } = logger()
    const result = await ensureFirstRunSecrets(env, log)

    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    const personal = (await readKeyFile(keyFile)).keys[0]?.recipient

    const values = await decrypt(sopsFile)
    // What it wrote is handed to the run, which so decrypts the file no second time.
    expect(result).toEqual({ madePersonalKey: true, generatedFields: env.secrets.fields, fileValues: values })
    expect(Object.keys(values).sort()).toEqual([...env.secrets.fields].sort())
    expect(values.age_cluster_private_key).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/)
    expect(Buffer.from(values.openbao_unseal_key ?? '', 'base64')).toHaveLength(32)
    expect(values.github_token_platform).toMatch(/^[0-9a-f]{48}$/)
    expect(new Set(Object.values(values)).size).toBe(env.secrets.fields.length)

    // Encrypted to the personal key and to the cluster key it generated.
    const cluster = await recipientOf(values.age_cluster_private_key ?? '')
    expect((await recipientsOf(sopsFile)).sort()).toEqual([personal, cluster].sort())

    // No plaintext value in the file, in any form; none in what was printed either.
    const text = readFileSync(sopsFile, 'utf8')
    for (const value of Object.values(values)) {
      expect(text).not.toContain(value)
      expect(text).not.toContain(Buffer.from(value).toString('base64'))
      for (const line of lines) expect(line).not.toContain(value)
    }
    for (const field of env.secrets.fields) expect(text).toMatch(new RegExp(`^${field}: ENC\\[`, 'm'))
    expect(lines.some((line) => line.includes(`made your personal age key at ${keyFile}`))).toBe(true)

    firstValues = values
    firstBytes = readFileSync(sopsFile)
  })

  it("makes the overlay's demo Secret in the environment's own checkout, encrypted to the same two keys", async () => {
    expect(existsSync(demoSecret)).toBe(true)
    expect((await recipientsOf(demoSecret)).sort()).toEqual((await recipientsOf(sopsFile)).sort())
    expect(readFileSync(demoSecret, 'utf8')).toMatch(/password: ENC\[/)
  })

  it('on a second run generates nothing and leaves both files byte for byte', async () => {
    const keyBefore = readFileSync(keyFile)
    const { log, lines } = logger()
    expect(await ensureFirstRunSecrets(env, log)).toEqual({
      madePersonalKey: false,
      generatedFields: [],
      fileValues: firstValues,
    })
    expect(readFileSync(sopsFile).equals(firstBytes)).toBe(true)
    expect(readFileSync(keyFile).equals(keyBefore)).toBe(true)
    expect(lines).toEqual([])
  })

  it('generates a field added to the config later alone, keeping the others and the recipients', async () => {
    const recipients = await recipientsOf(sopsFile)
    const grown: EnvConfig = {
      ...env,
      secrets: { ...env.secrets, fields: [...env.secrets.fields, 'grafana_token'] },
    }
    const { log } = logger()
    const result = await ensureFirstRunSecrets(grown, log)
    const values = await decrypt(sopsFile)
    expect(result).toEqual({ madePersonalKey: false, generatedFields: ['grafana_token'], fileValues: values })
    expect(values).toEqual({ ...firstValues, grafana_token: expect.stringMatching(/^[0-9a-f]{48}$/) })
    expect((await recipientsOf(sopsFile)).sort()).toEqual(recipients.sort())
    expect(readFileSync(sopsFile, 'utf8')).not.toContain(values.grafana_token)
  })

  it('a bootstrap file lost: the cluster key comes back from its backup, not generated anew', async () => {
    const before = (await decrypt(sopsFile)).age_cluster_private_key as string
    const personal = (await readKeyFile(keyFile)).keys.map((key) => key.recipient)
    const backup = join(dir, env.ageKey.backupFile)
    mkdirSync(dirname(backup), { recursive: true })
    writeFileSync(backup, await encryptTo(personal, before), { mode: 0o600 })
    rmSync(sopsFile)
    const { log, lines } = logger()
    await ensureFirstRunSecrets(env, log)
    expect((await decrypt(sopsFile)).age_cluster_private_key).toBe(before)
    expect(lines.join('\n')).toContain(
      `age_cluster_private_key came back from its backup ${env.ageKey.backupFile}`,
    )
    rmSync(backup)
  })

  it('no bootstrap file, no backup, but overlay Secrets encrypted to a cluster key: refuses to make a new key', async () => {
    const bytes = readFileSync(sopsFile)
    rmSync(sopsFile)
    try {
      const error = await ensureFirstRunSecrets(env, logger().log).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BootstrapError)
      expect((error as BootstrapError).message).toContain(
        'gitops/overlays/local/secrets/demo-credentials.secret.yaml is encrypted to a cluster key: a new key would orphan it',
      )
      expect((error as BootstrapError).hint).toMatch(
        /put the old key back .* or, to start over with a new cluster key, delete/,
      )
      expect(existsSync(sopsFile)).toBe(false)
    } finally {
      writeFileSync(sopsFile, bytes)
    }
  })

  it('does nothing for an environment that may not generate secrets', async () => {
    const other = join(dir, 'prod')
    vi.stubEnv('SOPS_AGE_KEY_FILE', join(other, 'keys.txt'))
    try {
      const prod: EnvConfig = {
        ...env,
        generateMissingSecrets: false,
        secrets: { ...env.secrets, sopsFile: join(other, 'secrets.sops.yaml') },
      }
      const { log, lines } = logger()
      expect(await ensureFirstRunSecrets(prod, log)).toEqual({ madePersonalKey: false, generatedFields: [] })
      expect(existsSync(other)).toBe(false)
      expect(lines).toEqual([])
    } finally {
      vi.stubEnv('SOPS_AGE_KEY_FILE', keyFile)
    }
  })
})
