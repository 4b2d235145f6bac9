import { existsSync, readFileSync } from 'node:fs'
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { delimiter, dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { caught } from '../../tests/helpers/caught.ts'
import {
  copyTree,
  decryptJson,
  deps,
  devCluster,
  type Json,
  prodCluster,
  snapshot,
  stagingCluster,
  team,
  tmp,
  useSecretsFixtures,
  value,
} from '../../tests/helpers/secrets-fixtures.ts'
import { argocdCm, ksopsPluginPath, ksopsStandin, repoServerEnv } from '../argocd/settings.ts'
import { writeKeyFile } from '../bootstrap-secrets/age.ts'
import { run } from '../core/exec.ts'
import { repoRoot } from '../core/paths.ts'
import { recipientsOf } from '../sops/index.ts'
import { toolsPath } from '../tools/index.ts'
import { checkSecrets } from './check.ts'
import { normaliseName, parseDotenv } from './dotenv.ts'
import { generateSecrets } from './generate.ts'
import { planSecrets } from './plan.ts'

const ENVIRONMENTS = ['dev', 'local', 'prod', 'staging']
const kustomize = toolsPath()
  .split(delimiter)
  .some((dir) => dir && existsSync(join(dir, 'kustomize')))

useSecretsFixtures()

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
      expect(parse(text).metadata).toEqual({ name, namespace: 'platform-system' })
      expect(await decryptJson(root, file)).toEqual({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'platform-system' },
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
        gitConfigDir: join(home, 'git'),
        servedRepos: join(home, 'repos'),
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
      expect(byName['org-name']?.metadata.namespace).toBe('platform-system')
      expect(byName['demo-credentials']).toBeDefined()
      await rm(demo)
    },
    120_000,
  )

  it('passes secrets-check afterwards', async () => {
    expect(await checkSecrets({ root, deps })).toEqual([])
  }, 60_000)
})
