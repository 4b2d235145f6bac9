import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { type AgeKeyPair, generateIdentity, writeKeyFile } from './age.ts'
import { argocdCm, ksopsPluginPath, ksopsStandin, repoServerEnv } from './argocd-settings.ts'
import { loadConfig } from './config.ts'
import { BootstrapError } from './errors.ts'
import { type Run, run } from './exec.ts'
import { repoRoot } from './paths.ts'
import {
  checkSecrets,
  editSecrets,
  type Finding,
  findPrivateKeys,
  generateSecrets,
  listRepoFiles,
  loadSopsConfig,
  normaliseName,
  parseDotenv,
  planSecrets,
  rotateSecrets,
  type SecretsDeps,
  sopsProblems,
} from './secrets-as-code.ts'
import { recipientsOf, writeEncrypted } from './sops.ts'
import { toolsPath } from './tools.ts'

// Real sops and age, keys made here at run time (no key is written in this file), and a
// temporary copy of the checkout for everything that writes or plants.

const ENVIRONMENTS = ['dev', 'local', 'prod', 'staging']
const kustomize = toolsPath()
  .split(delimiter)
  .some((dir) => dir && existsSync(join(dir, 'kustomize')))
const value = (label: string) => `${label}-${randomBytes(12).toString('hex')}`

async function caught(promise: Promise<unknown> | (() => unknown)): Promise<BootstrapError> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    expect(error).toBeInstanceOf(BootstrapError)
    return error as BootstrapError
  }
  throw new Error('expected a BootstrapError')
}

describe('parseDotenv', () => {
  it('reads KEY=value lines, export, quotes, comments and blank lines', () => {
    const entries = parseDotenv(
      [
        '# a comment',
        '',
        'PLAIN=abc',
        'export EXPORTED=def',
        'SPACED = ghi  ',
        'DOUBLE="two\\nlines # not a comment"',
        "SINGLE='lit\\n' # trailing comment",
        'INLINE=value # comment',
        'HASH=a#b',
        'EMPTY=',
      ].join('\n'),
    )
    expect(entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ['PLAIN', 'abc', 3],
      ['EXPORTED', 'def', 4],
      ['SPACED', 'ghi', 5],
      ['DOUBLE', 'two\nlines # not a comment', 6],
      ['SINGLE', 'lit\\n', 7],
      ['INLINE', 'value', 8],
      ['HASH', 'a#b', 9],
      ['EMPTY', '', 10],
    ])
  })

  it('names every line that is not KEY=value, and never quotes the line', async () => {
    const pasted = value('pasted-token')
    const error = await caught(() =>
      parseDotenv(`GOOD=1\n${pasted}\nBAD KEY=x\nOPEN="never closed\n`, '.env'),
    )
    expect(error.message).toContain('line 2 is not KEY=value')
    expect(error.message).toContain('line 3 is not KEY=value')
    expect(error.message).toContain('line 4 (OPEN)')
    expect(error.message).toContain('nothing was written')
    expect(error.message).not.toContain(pasted)
    expect(error.exitCode).toBe(2)
  })
})

describe('planSecrets', () => {
  const plan = (text: string, coreConsumers: string[] = []) =>
    planSecrets(parseDotenv(text), { environments: ENVIRONMENTS, coreConsumers })

  it('normalises UPPER_CASE to lowercase-hyphen', () => {
    expect(normaliseName('HETZNER_API_TOKEN')).toBe('hetzner-api-token')
  })

  it('routes DEV_/STAGING_/PROD_/LOCAL_ to their environment, APP_* nowhere, the rest to core', () => {
    const result = plan(
      'DEV_HETZNER_API_TOKEN=a\nSTAGING_DATABASE_URL=b\nPROD_HETZNER_DNS_TOKEN=c\nLOCAL_X=d\nORG_NAME=e\nAPP_PORT=8080\nDEV_APP_KEY=f\n',
    )
    expect(result.secrets.map((s) => [s.target, s.name, s.line])).toEqual([
      ['dev', 'hetzner-api-token', 1],
      ['staging', 'database-url', 2],
      ['prod', 'hetzner-dns-token', 3],
      ['local', 'x', 4],
      ['core', 'org-name', 5],
      ['dev', 'app-key', 7],
    ])
    expect(result.skipped).toEqual([{ key: 'APP_PORT', line: 6, reason: expect.stringContaining('APP_') }])
  })

  it('refuses a name that normalises to an invalid Kubernetes name, naming the line', async () => {
    for (const [line, key] of [
      ['DEV_=x', 'DEV_'],
      ['_LEADING=x', '_LEADING'],
      ['TRAILING_=x', 'TRAILING_'],
      [`${'A'.repeat(254)}=x`, 'A'.repeat(254)],
    ] as const) {
      const error = await caught(() => plan(`OK=1\n${line}\n`))
      expect(error.message).toContain(`line 2: ${key} normalises to`)
      expect(error.message).toContain('not a valid Kubernetes name')
    }
  })

  it('refuses two keys that normalise to the same name, naming both lines', async () => {
    const error = await caught(() => plan('FOO_BAR=1\nOTHER=2\nfoo_bar=3\n'))
    expect(error.message).toContain(
      'line 3: foo_bar normalises to foo-bar in core, as FOO_BAR on line 1 does',
    )
    const twice = await caught(() => plan('DEV_X=1\nDEV_X=2\n'))
    expect(twice.message).toContain('line 2: DEV_X normalises to x in dev, as DEV_X on line 1 does')
  })

  it('refuses an environment Secret that would clash with the core one its overlay includes', async () => {
    const error = await caught(() =>
      plan('ORG_NAME=a\nPROD_ORG_NAME=b\nDEV_ORG_NAME=c\n', ['prod', 'staging']),
    )
    expect(error.message).toContain('line 2: PROD_ORG_NAME')
    expect(error.message).toContain('ORG_NAME, line 1')
    expect(error.message).not.toContain('line 3')
  })
})

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

// ------------------------------------------------------------------------------------------------

let tmp: string
let team: AgeKeyPair
let stagingCluster: AgeKeyPair
let prodCluster: AgeKeyPair
let devCluster: AgeKeyPair
let stranger: AgeKeyPair
let teamKeyFile: string
let deps: SecretsDeps

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'secrets-as-code-'))
  team = await generateIdentity()
  stagingCluster = await generateIdentity()
  prodCluster = await generateIdentity()
  devCluster = await generateIdentity()
  stranger = await generateIdentity()
  teamKeyFile = join(tmp, 'keys', 'team.txt')
  await writeKeyFile(teamKeyFile, team.identity)
  deps = { run, env: { ...process.env, SOPS_AGE_KEY_FILE: teamKeyFile } }
}, 60_000)

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

function inDir(cwd: string): Run {
  return (command, args, options) => run(command, args, { ...options, cwd })
}

/**
 * A copy of what the checkout would commit, in a fresh git repository, with .sops.yaml's example
 * keys swapped for keys made here, staging/prod's bootstrap files re-made for them, and a dev
 * bootstrap file made as `just create dev` would (gitignored, to this machine's keys).
 */
async function copyTree(): Promise<string> {
  const root = await mkdtemp(join(tmp, 'repo-'))
  const { committable } = await listRepoFiles(repoRoot)
  for (const rel of committable) {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await cp(join(repoRoot, rel), join(root, rel))
  }
  await run('git', ['init', '--quiet'], { cwd: root })
  const real = loadSopsConfig(repoRoot)
  const rule = (prefix: string) => real.rules.find((r) => r.pathRegex.startsWith(prefix))
  const [exampleTeam, exampleStaging] = rule('^gitops/overlays/staging/')?.recipients ?? []
  const [, exampleProd] = rule('^gitops/overlays/prod/')?.recipients ?? []
  expect(exampleTeam && exampleStaging && exampleProd).toBeTruthy()
  const text = readFileSync(join(repoRoot, '.sops.yaml'), 'utf8')
    .replaceAll(exampleTeam as string, team.recipient)
    .replaceAll(exampleStaging as string, stagingCluster.recipient)
    .replaceAll(exampleProd as string, prodCluster.recipient)
  await writeFile(join(root, '.sops.yaml'), text)
  const sopsDeps = { run: inDir(root), env: deps.env }
  for (const [env, cluster] of [
    ['staging', stagingCluster],
    ['prod', prodCluster],
    ['dev', devCluster],
  ] as const) {
    const config = loadConfig(env, join(root, 'environments'))
    const fields = Object.fromEntries(config.secrets.fields.map((field) => [field, 'REPLACE_ME']))
    await writeEncrypted(
      join(root, config.secrets.sopsFile),
      fields,
      [team.recipient, (cluster as AgeKeyPair).recipient],
      sopsDeps,
    )
  }
  return root
}

/** Every file under a folder with its bytes: to show what a run touched and what it did not. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {}
  const out: Record<string, string> = {}
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = join(dir, rel)
    try {
      out[rel] = readFileSync(file, 'base64')
    } catch {
      // a folder
    }
  }
  return out
}

// biome-ignore lint/suspicious/noExplicitAny: decrypted documents are walked freely; the assertions check them
type Json = Record<string, any>

async function decryptJson(root: string, file: string, keyFile = teamKeyFile): Promise<Json> {
  const { stdout } = await run('sops', ['--decrypt', '--output-type', 'json', file], {
    cwd: root,
    env: { ...process.env, SOPS_AGE_KEY_FILE: keyFile },
  })
  return JSON.parse(stdout)
}

describe('secrets-generate (real sops)', () => {
  let root: string
  let envFile: string
  const values = {
    dev: value('dev-hetzner'),
    staging: value('staging-db'),
    prod: value('prod-db'),
    core: value('org'),
    app: value('app'),
  }
  const dotenv = (over: Partial<typeof values> = {}) => {
    const v = { ...values, ...over }
    return `# platform secrets\nDEV_HETZNER_API_TOKEN=${v.dev}\nSTAGING_DATABASE_URL="${v.staging}"\nPROD_DATABASE_URL=${v.prod}\nORG_NAME=${v.core}\nAPP_SECRET=${v.app}\n`
  }
  const overlays = () => join(root, 'gitops', 'overlays')

  beforeAll(async () => {
    root = await copyTree()
    // Outside the copy: a plaintext .env inside it would be a finding of secrets-check.
    envFile = join(tmp, 'generate.env')
    await writeFile(envFile, dotenv())
  }, 120_000)

  it('makes one encrypted Secret per variable in its overlay, for the right recipients', async () => {
    const result = await generateSecrets(envFile, { root, deps })
    expect(result.written.map((w) => w.file).sort()).toEqual([
      'gitops/overlays/core/secrets/org-name.secret.yaml',
      'gitops/overlays/dev/secrets/hetzner-api-token.secret.yaml',
      'gitops/overlays/prod/secrets/database-url.secret.yaml',
      'gitops/overlays/staging/secrets/database-url.secret.yaml',
    ])
    expect(result.skipped).toEqual([{ key: 'APP_SECRET', line: 6, reason: expect.any(String) }])

    const expectations = [
      ['dev', 'hetzner-api-token', values.dev, [team.recipient, devCluster.recipient]],
      ['staging', 'database-url', values.staging, [team.recipient, stagingCluster.recipient]],
      ['prod', 'database-url', values.prod, [team.recipient, prodCluster.recipient]],
      ['core', 'org-name', values.core, [team.recipient, stagingCluster.recipient, prodCluster.recipient]],
    ] as const
    for (const [target, name, plain, recipients] of expectations) {
      const file = join(overlays(), target, 'secrets', `${name}.secret.yaml`)
      const text = await readFile(file, 'utf8')
      expect(text).not.toContain(plain)
      expect((await recipientsOf(file)).sort()).toEqual([...recipients].sort())
      // Names stay readable in the ciphertext (encrypted_regex): reviews see which Secret changed.
      expect(parse(text).metadata).toEqual({ name, namespace: 'kube-system' })
      expect(await decryptJson(root, file)).toEqual({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'kube-system' },
        type: 'Opaque',
        stringData: { value: plain },
      })
      const generator = parse(readFileSync(join(overlays(), target, 'secret-generator.yaml'), 'utf8'))
      expect(generator.files).toContain(`./secrets/${name}.secret.yaml`)
    }
    // The dev file decrypts with the dev cluster key alone: the two-key design.
    const devKey = join(tmp, 'keys', 'dev-cluster.txt')
    await writeKeyFile(devKey, devCluster.identity)
    const devFile = join(overlays(), 'dev', 'secrets', 'hetzner-api-token.secret.yaml')
    expect((await decryptJson(root, devFile, devKey)).stringData.value).toBe(values.dev)
  }, 120_000)

  it('keeps the listed files the overlays had, and makes the core overlay included by staging and prod only', () => {
    const staging = parse(readFileSync(join(overlays(), 'staging', 'secret-generator.yaml'), 'utf8'))
    const before = parse(
      readFileSync(join(repoRoot, 'gitops/overlays/staging/secret-generator.yaml'), 'utf8'),
    )
    expect(staging.files.slice(0, before.files.length)).toEqual(before.files)
    expect(parse(readFileSync(join(overlays(), 'core', 'kustomization.yaml'), 'utf8'))).toMatchObject({
      kind: 'Kustomization',
      generators: ['secret-generator.yaml'],
    })
    expect(parse(readFileSync(join(overlays(), 'core', 'secret-generator.yaml'), 'utf8'))).toMatchObject({
      apiVersion: 'viaduct.ai/v1',
      kind: 'ksops',
      files: ['./secrets/org-name.secret.yaml'],
    })
    for (const env of ['staging', 'prod']) {
      const kustomization = parse(readFileSync(join(overlays(), env, 'kustomization.yaml'), 'utf8'))
      expect(kustomization.resources).toEqual(['../core'])
      expect(kustomization.generators).toEqual(['secret-generator.yaml'])
    }
    for (const env of ['dev', 'local']) {
      const kustomization = parse(readFileSync(join(overlays(), env, 'kustomization.yaml'), 'utf8'))
      expect(kustomization.resources).toBeUndefined()
    }
  })

  it('leaves every file byte-for-byte untouched when no value changed', async () => {
    const before = snapshot(overlays())
    const result = await generateSecrets(envFile, { root, deps })
    expect(result.written).toEqual([])
    expect(result.listed).toEqual([])
    expect(result.unchanged).toHaveLength(4)
    expect(snapshot(overlays())).toEqual(before)
  }, 120_000)

  it('re-encrypts only the file whose value changed', async () => {
    const before = snapshot(overlays())
    values.staging = value('staging-db-rotated')
    await writeFile(envFile, dotenv())
    const result = await generateSecrets(envFile, { root, deps })
    expect(result.written).toEqual([
      { file: 'gitops/overlays/staging/secrets/database-url.secret.yaml', why: 'changed' },
    ])
    const after = snapshot(overlays())
    const changed = Object.keys(after).filter((rel) => after[rel] !== before[rel])
    expect(changed).toEqual(['staging/secrets/database-url.secret.yaml'])
    const file = join(overlays(), 'staging', 'secrets', 'database-url.secret.yaml')
    expect((await decryptJson(root, file)).stringData.value).toBe(values.staging)
  }, 120_000)

  it.each([
    [
      'a line that is not KEY=value',
      (v: string) => `STAGING_NEW=${v}\nthis is not a variable\n`,
      'line 2 is not KEY=value',
    ],
    [
      'an invalid Kubernetes name',
      (v: string) => `STAGING_NEW=${v}\nPROD__BAD=x\n`,
      'line 2: PROD__BAD normalises to "-bad"',
    ],
    [
      'two keys with one name',
      (v: string) => `STAGING_NEW=${v}\nORG_NAME=x\norg_name=y\n`,
      'line 3: org_name normalises to org-name in core, as ORG_NAME on line 2 does',
    ],
  ])(
    'writes nothing on %s, and names the line',
    async (_, text, expected) => {
      const before = snapshot(join(root, 'gitops'))
      const secret = value('never-written')
      const bad = join(tmp, 'bad.env')
      await writeFile(bad, text(secret))
      const error = await caught(generateSecrets(bad, { root, deps }))
      expect(error.message).toContain(expected)
      expect(error.message).toContain('nothing was written')
      expect(error.message).not.toContain(secret)
      expect(snapshot(join(root, 'gitops'))).toEqual(before)
    },
    60_000,
  )

  it('names every bad line of a file in one error, parse and name problems alike', async () => {
    const bad = join(tmp, 'many.env')
    await writeFile(bad, `STAGING_OK=${value('v')}\nnot a line\nDEV__X=1\nFOO=1\nfoo=2\n`)
    const error = await caught(generateSecrets(bad, { root, deps }))
    expect(error.message).toContain('3 problems, nothing was written')
    expect(error.message.indexOf('line 2 ')).toBeLessThan(error.message.indexOf('line 3:'))
    expect(error.message).toContain('line 3: DEV__X normalises to "-x"')
    expect(error.message).toContain('line 5: foo normalises to foo in core, as FOO on line 4 does')
  }, 60_000)

  it('writes nothing when a per-machine environment has no keys yet, and says to create it first', async () => {
    const before = snapshot(join(root, 'gitops'))
    const file = join(tmp, 'local.env')
    await writeFile(file, `STAGING_FIRST=${value('x')}\nLOCAL_TOKEN=${value('y')}\n`)
    const error = await caught(generateSecrets(file, { root, deps }))
    expect(error.message).toContain('environments/local/secrets.sops.yaml does not exist yet')
    expect(error.hint).toContain('run `just create local` once first')
    expect(snapshot(join(root, 'gitops'))).toEqual(before)
  }, 60_000)

  it.skipIf(!kustomize)(
    'renders staging through kustomize and the KSOPS stand-in with the staging cluster key alone, core included',
    async () => {
      // The generator also lists the overlay's demo Secret: give the copy one, as a team would.
      const demo = join(overlays(), 'staging', 'secrets', 'demo-credentials.secret.yaml')
      const { stdout } = await run(
        'sops',
        ['encrypt', '--input-type', 'yaml', '--output-type', 'yaml', '--filename-override', demo],
        {
          cwd: root,
          env: deps.env,
          input:
            'apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-credentials\n  namespace: platform-system\nstringData:\n  password: x\n',
        },
      )
      await writeFile(demo, stdout)
      const home = join(tmp, 'repo-server')
      const env = repoServerEnv({
        configHome: join(home, 'config'),
        ageKeyDir: join(home, 'config', 'sops', 'age'),
        pluginHome: join(home, 'plugins'),
      })
      await writeKeyFile(env.SOPS_AGE_KEY_FILE as string, stagingCluster.identity)
      const plugin = ksopsPluginPath(env.KUSTOMIZE_PLUGIN_HOME as string)
      await mkdir(dirname(plugin), { recursive: true })
      await cp(ksopsStandin, plugin)
      await chmod(plugin, 0o755)
      const options = (argocdCm['kustomize.buildOptions'] as string).split(' ')
      const built = await run('kustomize', ['build', ...options, join(overlays(), 'staging')], {
        env: { ...process.env, ...env },
        timeoutMs: 60_000,
      })
      const secrets = parseAllDocuments(built.stdout)
        .map((doc) => doc.toJS() as Json)
        .filter((doc) => doc.kind === 'Secret')
      const byName = Object.fromEntries(secrets.map((doc) => [doc.metadata.name, doc]))
      expect(byName['database-url']?.stringData).toEqual({ value: values.staging })
      expect(byName['org-name']?.stringData).toEqual({ value: values.core })
      expect(byName['org-name']?.metadata.namespace).toBe('kube-system')
      expect(byName['demo-credentials']).toBeDefined()
      await rm(demo)
    },
    120_000,
  )

  it('passes secrets-check afterwards', async () => {
    expect(await checkSecrets({ root, deps })).toEqual([])
  }, 60_000)
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

describe('secrets-rotate (real sops)', () => {
  let root: string
  let newStaging: AgeKeyPair

  beforeAll(async () => {
    root = await copyTree()
    const envFile = join(tmp, 'rotate.env')
    await writeFile(envFile, `STAGING_TOKEN=${value('t')}\nPROD_TOKEN=${value('p')}\n`)
    await generateSecrets(envFile, { root, deps })
    newStaging = await generateIdentity()
  }, 120_000)

  it('changes nothing while every file matches .sops.yaml', async () => {
    const tree = () => ({ ...snapshot(join(root, 'gitops')), ...snapshot(join(root, 'environments')) })
    const before = tree()
    const result = await rotateSecrets({ root, deps })
    expect(result.changed).toEqual([])
    expect(result.failed).toEqual([])
    expect(result.unchanged).toEqual(
      expect.arrayContaining([
        'environments/staging/secrets.sops.yaml',
        'gitops/overlays/staging/secrets/token.secret.yaml',
      ]),
    )
    expect(tree()).toEqual(before)
  }, 60_000)

  it('re-encrypts every file of a changed rule for its new recipients, listing them, and only those', async () => {
    const sopsYaml = join(root, '.sops.yaml')
    await writeFile(
      sopsYaml,
      readFileSync(sopsYaml, 'utf8').replaceAll(stagingCluster.recipient, newStaging.recipient),
    )
    expect((await checkSecrets({ root, deps })).map((f) => f.file).sort()).toEqual([
      'environments/staging/secrets.sops.yaml',
      'gitops/overlays/staging/secrets/token.secret.yaml',
    ])
    const prodBefore = readFileSync(join(root, 'gitops/overlays/prod/secrets/token.secret.yaml'))
    const result = await rotateSecrets({ root, deps })
    expect(result.failed).toEqual([])
    expect(result.changed).toEqual([
      {
        file: 'environments/staging/secrets.sops.yaml',
        added: [newStaging.recipient],
        removed: [stagingCluster.recipient],
      },
      {
        file: 'gitops/overlays/staging/secrets/token.secret.yaml',
        added: [newStaging.recipient],
        removed: [stagingCluster.recipient],
      },
    ])
    expect(result.perMachine).toContain('environments/dev/secrets.sops.yaml')
    expect(readFileSync(join(root, 'gitops/overlays/prod/secrets/token.secret.yaml'))).toEqual(prodBefore)
    expect(await checkSecrets({ root, deps })).toEqual([])
    const newKey = join(tmp, 'keys', 'new-staging.txt')
    await writeKeyFile(newKey, newStaging.identity)
    const decrypted = await decryptJson(root, join(root, 'environments/staging/secrets.sops.yaml'), newKey)
    expect(decrypted.github_token_platform).toBe('REPLACE_ME')
  }, 60_000)

  it('names a file no key it holds decrypts', async () => {
    const sopsYaml = join(root, '.sops.yaml')
    await writeFile(
      sopsYaml,
      readFileSync(sopsYaml, 'utf8').replaceAll(prodCluster.recipient, stranger.recipient),
    )
    const strangerDeps = {
      run,
      env: { ...process.env, SOPS_AGE_KEY_FILE: join(tmp, 'keys', 'dev-cluster-only.txt') },
    }
    await writeKeyFile(join(tmp, 'keys', 'dev-cluster-only.txt'), devCluster.identity)
    const result = await rotateSecrets({ root, deps: strangerDeps })
    expect(result.failed.map((f) => f.file)).toEqual([
      'environments/prod/secrets.sops.yaml',
      'gitops/overlays/prod/secrets/token.secret.yaml',
    ])
    expect(result.failed[0]?.reason).toContain('no age key you hold decrypts it')
  }, 60_000)
})

describe('secrets-edit (real sops, a scripted editor)', () => {
  let root: string
  let editor: string

  beforeAll(async () => {
    root = await copyTree()
    editor = join(tmp, 'editor.sh')
    await writeFile(editor, '#!/bin/sh\nprintf "added_field: %s\\n" "$EDITED_VALUE" >> "$1"\n')
    await chmod(editor, 0o755)
  }, 120_000)

  const withEditor = (command: string, extra: Record<string, string> = {}) => ({
    root,
    deps: { run, env: { ...deps.env, EDITOR: command, SOPS_EDITOR: command, ...extra } },
  })

  it('opens the bootstrap secrets file in sops and keeps what the editor wrote, encrypted', async () => {
    const added = value('edited')
    expect(await editSecrets('staging', withEditor(editor, { EDITED_VALUE: added }))).toBe('changed')
    const file = join(root, 'environments/staging/secrets.sops.yaml')
    expect(readFileSync(file, 'utf8')).not.toContain(added)
    const decrypted = await decryptJson(root, file)
    expect(decrypted.added_field).toBe(added)
    expect(decrypted.github_token_platform).toBe('REPLACE_ME')
    expect((await recipientsOf(file)).sort()).toEqual([team.recipient, stagingCluster.recipient].sort())
  }, 60_000)

  it('says when nothing changed', async () => {
    expect(await editSecrets('staging', withEditor('true'))).toBe('unchanged')
  }, 60_000)

  it('creates a missing file with the keys of its .sops.yaml rule', async () => {
    const file = join(root, 'environments/prod/secrets.sops.yaml')
    await rm(file)
    expect(await editSecrets('prod', withEditor(editor, { EDITED_VALUE: value('new') }))).toBe('created')
    expect((await recipientsOf(file)).sort()).toEqual([team.recipient, prodCluster.recipient].sort())
  }, 60_000)

  it('refuses a per-machine environment without its file, saying to create it first', async () => {
    const error = await caught(editSecrets('local', withEditor(editor)))
    expect(error.hint).toContain('run `just create local` once first')
  })
})
