import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  copyTree,
  deps,
  devCluster,
  prodCluster,
  stagingCluster,
  stranger,
  team,
  tmp,
  useSecretsFixtures,
  value,
} from '../../tests/helpers/secrets-fixtures.ts'
import { generateIdentity } from '../bootstrap-secrets/age.ts'
import { run } from '../core/exec.ts'
import { loadConfig } from '../runner/config.ts'
import { writeEncrypted } from '../sops/index.ts'
import { checkSecrets, type Finding, sopsProblems } from './check.ts'
import { findPrivateKeys } from './private-keys.ts'

useSecretsFixtures()

describe('findPrivateKeys and sopsProblems on text', () => {
  it('finds a real age identity by line, not a made-up one, and never returns the key', async () => {
    const key = await generateIdentity()
    const fake = `AGE-SECRET-KEY-1${'Q'.repeat(58)}`
    const hits = findPrivateKeys(`one\nconst fake = '${fake}'\nkey: ${key.identity}\n`)
    expect(hits).toEqual([{ line: 3, kind: expect.stringContaining('age private key') }])
    expect(JSON.stringify(hits)).not.toContain(key.identity)
  })

  it('finds PEM private key blocks (file form and JSON \\n form), not the bare markers in code', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    }) as string
    expect(findPrivateKeys(`x\n${pem}`)).toEqual([{ line: 2, kind: 'holds a PEM private key' }])
    expect(findPrivateKeys(`  key: |\n${rsa.replace(/^/gm, '    ')}`)).toEqual([
      { line: 2, kind: 'holds a PEM RSA private key' },
    ])
    expect(findPrivateKeys(JSON.stringify({ private_key: rsa }))).toHaveLength(1)
    const marker = ['-----BEGIN', 'PRIVATE', 'KEY-----'].join(' ')
    expect(findPrivateKeys(`const begin = '${marker}'\nif (x) {}\n`)).toEqual([])
  })

  it('calls a file without sops metadata, or with a value in clear, not encrypted', () => {
    expect(sopsProblems('apiVersion: v1\nkind: Secret\nstringData:\n  value: x\n', 'a.yaml')).toEqual([
      'is not SOPS-encrypted (no sops metadata)',
    ])
    expect(sopsProblems('a: ENC[x]\nsops:\n  lastmodified: "x"\n', 'a.yaml')[0]).toContain('without a MAC')
    expect(sopsProblems('A=1\n', 'a.sops.env')[0]).toContain('not SOPS-encrypted')
  })
})

describe('secrets-check (real sops, planted files)', () => {
  let root: string
  const plant = async (rel: string, text: string) => {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await writeFile(join(root, rel), text)
  }
  const check = () => checkSecrets({ root, deps })
  const encryptTo = async (recipients: string[], manifest: string, extra: string[] = []) =>
    (
      await run(
        'sops',
        [
          'encrypt',
          '--input-type',
          'yaml',
          '--output-type',
          'yaml',
          '--filename-override',
          'planted.yaml',
          '--age',
          recipients.join(','),
          ...extra,
        ],
        { input: manifest, cwd: tmp, env: deps.env },
      )
    ).stdout
  const secretYaml = (name: string, secret: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: kube-system\ntype: Opaque\nstringData:\n  value: ${secret}\n`

  beforeAll(async () => {
    root = await copyTree()
  }, 120_000)

  it('passes on the copy of the checkout', async () => {
    expect(await check()).toEqual([])
  }, 60_000)

  it("reports an overlay file the environment's cluster key cannot decrypt, as create's preflight would", async () => {
    // local as `just create local` makes it on this machine: the bootstrap file to the team key and
    // the cluster key, the demo Secret (planted here) to a stranger's key.
    const cluster = await generateIdentity()
    const bootstrap = join(root, 'environments/local/secrets.sops.yaml')
    const local = loadConfig('local', join(root, 'environments'))
    const values = Object.fromEntries(local.secrets.fields.map((field) => [field, value(field)]))
    await writeEncrypted(
      bootstrap,
      { ...values, age_cluster_private_key: cluster.identity },
      [team.recipient, cluster.recipient],
      {
        run: (command, args, options) => run(command, args, { ...options, cwd: root }),
        env: deps.env,
      },
    )
    const demo = 'gitops/overlays/local/secrets/demo-credentials.secret.yaml'
    await plant(
      demo,
      await encryptTo([stranger.recipient], secretYaml('demo-credentials', value('demo')), [
        '--encrypted-regex',
        '^(data|stringData)$',
      ]),
    )
    try {
      const findings = (await check()).filter((f) => f.file === demo)
      expect(findings).toEqual([
        {
          file: demo,
          problem: `${demo} is encrypted to ${stranger.recipient}, not to the cluster key ${cluster.recipient} (environment local): create would stop here`,
        },
      ])
    } finally {
      await rm(join(root, demo))
      await rm(bootstrap)
    }
  }, 60_000)

  async function onlyFinding(rel: string, expected: string): Promise<Finding> {
    const findings = await check()
    expect(findings, JSON.stringify(findings)).toHaveLength(1)
    const finding = findings[0] as Finding
    expect(finding.file).toBe(rel)
    expect(finding.problem).toContain(expected)
    await rm(join(root, rel))
    expect(await check()).toEqual([])
    return finding
  }

  it('fails on a plaintext Secret manifest anywhere under gitops/', async () => {
    const secret = value('plain')
    await plant('gitops/platform/leaked-secret.yaml', secretYaml('leaked', secret))
    const finding = await onlyFinding(
      'gitops/platform/leaked-secret.yaml',
      'Secret manifest is not SOPS-encrypted',
    )
    expect(JSON.stringify(finding)).not.toContain(secret)
  })

  it('fails on a plaintext secrets file in an overlay and under environments/', async () => {
    await plant('gitops/overlays/staging/secrets/leak.secret.yaml', secretYaml('leak', value('plain')))
    await onlyFinding('gitops/overlays/staging/secrets/leak.secret.yaml', 'not SOPS-encrypted')
    await plant('environments/staging/extra.sops.yaml', `token: ${value('plain')}\n`)
    await onlyFinding('environments/staging/extra.sops.yaml', 'not SOPS-encrypted')
  })

  it('fails on a SOPS file that left the Secret values in clear text', async () => {
    const text = await encryptTo([team.recipient, stagingCluster.recipient], secretYaml('half', value('v')), [
      '--encrypted-regex',
      '^metadata$',
    ])
    await plant('gitops/overlays/staging/secrets/half.secret.yaml', text)
    await onlyFinding(
      'gitops/overlays/staging/secrets/half.secret.yaml',
      'values in clear text: stringData.value',
    )
  }, 60_000)

  it('fails on a SOPS file encrypted for other recipients than .sops.yaml asks for', async () => {
    const text = await encryptTo([team.recipient, prodCluster.recipient], secretYaml('wrong', value('v')), [
      '--encrypted-regex',
      '^(data|stringData)$',
    ])
    await plant('gitops/overlays/staging/secrets/wrong.secret.yaml', text)
    const finding = await onlyFinding('gitops/overlays/staging/secrets/wrong.secret.yaml', 'other recipients')
    expect(finding.problem).toContain(`missing ${stagingCluster.recipient}`)
    expect(finding.problem).toContain(`not in the rule ${prodCluster.recipient}`)
    expect(finding.problem).toContain('just secrets-rotate')
  }, 60_000)

  it('judges a gitignored per-machine file only for being encrypted', async () => {
    // environments/dev/secrets.sops.yaml is gitignored and encrypted to this machine's dev keys.
    expect(await check()).toEqual([])
    const file = join(root, 'environments/dev/secrets.sops.yaml')
    const kept = await readFile(file)
    await writeFile(file, `github_token_platform: ${value('plain')}\n`)
    const findings = await check()
    expect(findings).toEqual([
      { file: 'environments/dev/secrets.sops.yaml', problem: expect.stringContaining('not SOPS-encrypted') },
    ])
    await writeFile(file, kept)
  })

  it('fails on a committable file on a per-machine path (no keys in .sops.yaml)', async () => {
    const text = await encryptTo([team.recipient, devCluster.recipient], secretYaml('mine', value('v')), [
      '--encrypted-regex',
      '^(data|stringData)$',
    ])
    await plant('gitops/overlays/dev/mine.secret.yaml', text)
    await onlyFinding('gitops/overlays/dev/mine.secret.yaml', 'must be gitignored')
  }, 60_000)

  it('fails on an age private key anywhere, naming file and line but not the key', async () => {
    const key = await generateIdentity()
    await plant('docs/notes.md', `# notes\n\nthe key is\n${key.identity}\n`)
    const finding = await onlyFinding('docs/notes.md', 'age private key')
    expect(finding.line).toBe(4)
    expect(JSON.stringify(finding)).not.toContain(key.identity)
  })

  it('fails on a PEM private key block anywhere, and on a private key in a JSON string', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    }) as string
    await plant('scripts/fixture.key', pem)
    expect((await onlyFinding('scripts/fixture.key', 'PEM EC private key')).line).toBe(1)
    await plant(
      'service-account.json',
      JSON.stringify({ type: 'service_account', private_key: pem }, null, 2),
    )
    expect((await onlyFinding('service-account.json', 'PEM EC private key')).line).toBe(3)
  })

  it('fails on a plaintext .env that git would commit, not on a gitignored one', async () => {
    const gitignore = readFileSync(join(root, '.gitignore'), 'utf8')
    await plant('.gitignore', gitignore.replace(/^\.env$/m, ''))
    await plant('.env', `ORG_NAME=${value('v')}\n`)
    await onlyFinding('.env', 'plaintext .env')
    await plant('.gitignore', `${gitignore.replace(/^\.env$/m, '')}.env\n`)
    await plant('.env', `ORG_NAME=${value('v')}\n`)
    expect(await check()).toEqual([])
  })

  it('names each offending file when there are several', async () => {
    await plant('gitops/a.yaml', secretYaml('a', value('v')))
    await plant('environments/prod/b.secret.yaml', secretYaml('b', value('v')))
    const findings = await check()
    expect(findings.map((f) => f.file).sort()).toEqual(['environments/prod/b.secret.yaml', 'gitops/a.yaml'])
    await rm(join(root, 'gitops/a.yaml'))
    await rm(join(root, 'environments/prod/b.secret.yaml'))
  })
})
