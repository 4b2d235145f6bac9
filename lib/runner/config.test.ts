import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { versions } from '../core/versions.ts'
import { environmentsDir, listEnvironments, loadConfig, OVERRIDE_VARIABLES, parseConfig } from './config.ts'

const FILE = 'environments/local/config.yaml'

/** A fresh copy of the real local config, to break one field at a time. */
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, reached into field by field to break it
function base(): Record<string, any> {
  return parse(readFileSync(join(environmentsDir, 'local', 'config.yaml'), 'utf8'))
}

function caught(fn: () => unknown): BootstrapError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(BootstrapError)
    return error as BootstrapError
  }
  throw new Error('expected a BootstrapError, nothing was thrown')
}

/** The error names the file, the field path, what was expected and what was there. */
function expectFieldError(
  raw: unknown,
  want: { path: string; expected: string; got?: string },
  env = 'local',
) {
  const error = caught(() => parseConfig(raw, env, FILE))
  expect(error.exitCode).toBe(2)
  expect(error.message).toContain(`${FILE}: field "${want.path}" must be `)
  expect(error.message).toContain(want.expected)
  if (want.got !== undefined) expect(error.message).toContain(`got ${want.got}`)
  return error
}

describe('parseConfig', () => {
  it('accepts the real local config and fills the defaults', () => {
    const raw = base()
    delete raw.argocd
    delete raw.converge
    delete raw.openbao.initFile
    const config = parseConfig(raw, 'local', FILE)
    expect(config.name).toBe('local')
    expect(config.cluster).toEqual({
      provider: 'local',
      name: 'platform-local',
      context: undefined,
      nodes: 1,
      nodeImage: versions.kindNodeImage,
    })
    expect(config.charts).toEqual({ mirror: undefined })
    expect(config.images).toEqual({ archives: undefined })
    expect(config.argocd).toEqual({ namespace: 'argocd', timeoutSeconds: 300 })
    expect(config.converge).toEqual({ timeoutSeconds: 300 })
    expect(config.openbao.initFile).toBe('environments/local/openbao.sops.yaml')
    expect(config.gitops.tenantRepos['tenant-a']?.passwordField).toBe('github_token_tenant')
    expect(config.secrets.vault).toBeUndefined()
  })

  it('refuses a missing cluster.provider', () => {
    const raw = base()
    delete raw.cluster.provider
    expectFieldError(raw, {
      path: 'cluster.provider',
      expected: 'one of kind, existing, local',
      got: 'nothing',
    })
  })

  it('refuses a provider that is not kind, existing or local', () => {
    const raw = base()
    raw.cluster.provider = 'docker'
    expectFieldError(raw, {
      path: 'cluster.provider',
      expected: 'one of kind, existing, local',
      got: '"docker"',
    })
  })

  it.each(['Platform_Local', 'platform.local', '-platform', 'x'.repeat(64), ''])(
    'refuses cluster.name %j (not a DNS label)',
    (name) => {
      const raw = base()
      raw.cluster.name = name
      expectFieldError(raw, { path: 'cluster.name', expected: 'a string matching /^[a-z0-9]' })
    },
  )

  it('refuses provider existing without cluster.context', () => {
    const raw = base()
    raw.cluster.provider = 'existing'
    expectFieldError(raw, {
      path: 'cluster.context',
      expected: 'the kube context to use (required for provider existing)',
      got: 'nothing',
    })
    raw.cluster.context = 'platform-local'
    expect(parseConfig(raw, 'local', FILE).cluster.context).toBe('platform-local')
  })

  it.each([
    ['gitops.platformRepo.url', 'github.com/example-org/platform-gitops'],
    ['gitops.platformRepo.url', 'https://github.com/example org/x.git'],
    ['gitops.tenantRepos.tenant-a.url', 'ftp://example.org/tenant.git'],
  ])('refuses %s = %j (not a git URL)', (path, url) => {
    const raw = base()
    if (path.startsWith('gitops.platformRepo')) raw.gitops.platformRepo.url = url
    else raw.gitops.tenantRepos['tenant-a'].url = url
    expectFieldError(raw, { path, expected: 'a git URL', got: JSON.stringify(url) })
  })

  it('accepts ssh, git@ and file git URLs', () => {
    for (const url of ['ssh://git@example.org/x.git', 'git@github.com:org/x.git', 'file:///srv/git/x']) {
      const raw = base()
      raw.gitops.platformRepo.url = url
      expect(parseConfig(raw, 'local', FILE).gitops.platformRepo.url).toBe(url)
    }
  })

  it('refuses a passwordField that secrets.fields does not declare', () => {
    const raw = base()
    raw.gitops.tenantRepos['tenant-a'].passwordField = 'github_token_other'
    expectFieldError(raw, {
      path: 'gitops.tenantRepos.tenant-a.passwordField',
      expected: 'a field listed in secrets.fields (age_cluster_private_key, github_token_platform',
      got: '"github_token_other"',
    })
    const platform = base()
    platform.gitops.platformRepo.passwordField = 'nope'
    expectFieldError(platform, { path: 'gitops.platformRepo.passwordField', expected: 'secrets.fields' })
  })

  it('refuses a bootstrap Secret whose data names an undeclared field', () => {
    const raw = base()
    raw.bootstrapSecrets[0].data = { key: 'unseal_key_typo' }
    expectFieldError(raw, {
      path: 'bootstrapSecrets[0].data.key',
      expected: 'a field listed in secrets.fields',
      got: '"unseal_key_typo"',
    })
  })

  it('refuses a bootstrap Secret in a namespace that namespaces does not list', () => {
    const raw = base()
    raw.bootstrapSecrets[1].namespace = 'monitoring'
    expectFieldError(raw, {
      path: 'bootstrapSecrets[1].namespace',
      expected: 'one of namespaces (argocd, openbao, cert-manager, platform-system)',
      got: '"monitoring"',
    })
  })

  it('accepts bootstrap Secret keys with dots (tls.crt, .dockerconfigjson)', () => {
    const raw = base()
    raw.bootstrapSecrets[0].data = {
      'tls.crt': 'openbao_unseal_key',
      '.dockerconfigjson': 'github_token_platform',
    }
    const config = parseConfig(raw, 'local', FILE)
    expect(config.bootstrapSecrets[0]?.data).toEqual({
      'tls.crt': 'openbao_unseal_key',
      '.dockerconfigjson': 'github_token_platform',
    })
    raw.bootstrapSecrets[0].data = { 'tls.crt': '' }
    expectFieldError(raw, {
      path: 'bootstrapSecrets[0].data.tls.crt',
      expected: 'a non-empty string',
      got: '""',
    })
  })

  it('refuses a namespaces list without the Argo CD namespace', () => {
    const raw = base()
    raw.namespaces = ['openbao', 'cert-manager', 'platform-system']
    expectFieldError(raw, { path: 'namespaces', expected: 'includes the Argo CD namespace "argocd"' })
  })

  const vault = {
    address: 'https://vault.example.internal:8200',
    kvPath: 'secret/data/platform-local/bootstrap',
    tokenFile: '~/.vault-token',
  }

  it('accepts a vault block and defaults timeoutMs', () => {
    const raw = base()
    raw.secrets.vault = { ...vault }
    expect(parseConfig(raw, 'local', FILE).secrets.vault).toEqual({ ...vault, timeoutMs: 3000 })
  })

  it.each(['secret/platform-local/bootstrap', 'secret/data/', '/data/x', 'secret/metadata/x'])(
    'refuses secrets.vault.kvPath %j (not a KV v2 path)',
    (kvPath) => {
      const raw = base()
      raw.secrets.vault = { ...vault, kvPath }
      expectFieldError(raw, {
        path: 'secrets.vault.kvPath',
        expected: 'a KV v2 path like secret/data/<cluster>/bootstrap',
        got: JSON.stringify(kvPath),
      })
    },
  )

  it('refuses a vault address that is not an http(s) URL', () => {
    const raw = base()
    raw.secrets.vault = { ...vault, address: 'vault.example.internal:8200' }
    expectFieldError(raw, { path: 'secrets.vault.address', expected: 'an http(s) URL' })
  })

  it.each([99, 60_001, 2.5, '3000'])('refuses secrets.vault.timeoutMs %j (out of range)', (timeoutMs) => {
    const raw = base()
    raw.secrets.vault = { ...vault, timeoutMs }
    expectFieldError(raw, {
      path: 'secrets.vault.timeoutMs',
      expected: 'an integer from 100 to 60000',
      got: JSON.stringify(timeoutMs),
    })
  })

  it('accepts timeoutMs at both ends of the range', () => {
    for (const timeoutMs of [100, 60_000]) {
      const raw = base()
      raw.secrets.vault = { ...vault, timeoutMs }
      expect(parseConfig(raw, 'local', FILE).secrets.vault?.timeoutMs).toBe(timeoutMs)
    }
  })

  it('refuses other out-of-range integers with their field path', () => {
    const raw = base()
    raw.converge.timeoutSeconds = 5
    expectFieldError(raw, {
      path: 'converge.timeoutSeconds',
      expected: 'an integer from 10 to 7200',
      got: '5',
    })
  })

  it.each([
    [{ generate: 8 }, '{"generate":8}'],
    [{ generate: 257 }, '{"generate":257}'],
    [{ generate: '32' }, '{"generate":"32"}'],
    [{}, '{}'],
  ])('refuses the openbao app secret spec %j', (spec, shown) => {
    const raw = base()
    raw.openbao.apps[1].secrets['admin-password'] = spec
    expectFieldError(raw, {
      path: 'openbao.apps[1].secrets.admin-password',
      expected: '{ fromField: <bootstrap field> } or { generate: <length 16-256> }',
      got: shown,
    })
  })

  it('refuses an openbao app secret fromField that secrets.fields does not declare', () => {
    const raw = base()
    raw.openbao.apps[0].secrets['admin-password'] = { fromField: 'grafana_password' }
    expectFieldError(raw, {
      path: 'openbao.apps[0].secrets.admin-password.fromField',
      expected: 'a field listed in secrets.fields',
      got: '"grafana_password"',
    })
  })

  it('refuses an unknown key, naming the file, the key and the nearest known one', () => {
    const typo = base()
    typo.convrge = typo.converge
    delete typo.converge
    const error = caught(() => parseConfig(typo, 'local', FILE))
    expect(error.exitCode).toBe(2)
    expect(error.message).toBe(`${FILE}: unknown field "convrge" — did you mean "converge"?`)
    expect(error.hint).toContain('converge')

    const optional = base()
    optional.generateMissingSecret = true
    expect(caught(() => parseConfig(optional, 'local', FILE)).message).toContain(
      'unknown field "generateMissingSecret" — did you mean "generateMissingSecrets"?',
    )
    const nested = base()
    nested.converge = { timeoutSecond: 30 }
    expect(caught(() => parseConfig(nested, 'local', FILE)).message).toContain(
      'unknown field "converge.timeoutSecond" — did you mean "timeoutSeconds"?',
    )
    const inList = base()
    inList.bootstrapSecrets[0].namesapce = 'openbao'
    expect(caught(() => parseConfig(inList, 'local', FILE)).message).toContain(
      'unknown field "bootstrapSecrets[0].namesapce" — did you mean "namespace"?',
    )
  })

  it('air-gap settings: a URL mirror, a folder mirror and archives from the checkout, an image by name', () => {
    const raw = base()
    raw.charts = { mirror: 'https://charts.internal.example/helm/' }
    raw.images = { archives: 'images' }
    raw.cluster.nodeImage = 'registry.internal.example/kindest/node:v1.36.4'
    const config = parseConfig(raw, 'local', FILE, '/checkout')
    expect(config.charts.mirror).toEqual({ kind: 'url', url: 'https://charts.internal.example/helm' })
    expect(config.images.archives).toBe('/checkout/images')
    expect(config.cluster.nodeImage).toBe('registry.internal.example/kindest/node:v1.36.4')
    raw.charts = { mirror: '/srv/charts' }
    expect(parseConfig(raw, 'local', FILE, '/checkout').charts.mirror).toEqual({
      kind: 'folder',
      path: '/srv/charts',
    })
    expect(caught(() => parseConfig({ ...raw, charts: { mirorr: 'x' } }, 'local', FILE)).message).toContain(
      'unknown field "charts.mirorr" — did you mean "mirror"?',
    )
  })

  it('the environment variables override the air-gap settings for one run', () => {
    const raw = base()
    raw.charts = { mirror: 'https://charts.internal.example' }
    const config = parseConfig(raw, 'local', FILE, '/checkout', {
      [OVERRIDE_VARIABLES.chartsMirror]: 'mirror',
      [OVERRIDE_VARIABLES.imageArchives]: '/tmp/archives',
      [OVERRIDE_VARIABLES.nodeImage]: 'platform-bootstrap/kind-node:v1.36.4',
    })
    expect(config.charts.mirror).toEqual({ kind: 'folder', path: '/checkout/mirror' })
    expect(config.images.archives).toBe('/tmp/archives')
    expect(config.cluster.nodeImage).toBe('platform-bootstrap/kind-node:v1.36.4')
  })

  it('names no guess for an unknown key like none of the known ones', () => {
    const raw = base()
    raw.cluster.flavour = 'vanilla'
    const error = caught(() => parseConfig(raw, 'local', FILE))
    expect(error.message).toBe(`${FILE}: unknown field "cluster.flavour"`)
    expect(error.hint).toBe('the fields of cluster are: provider, name, context, nodes, nodeImage')
  })

  it('refuses a name that does not match the folder', () => {
    const raw = base()
    expectFieldError(raw, { path: 'name', expected: '"dev" (the folder it is in)', got: '"local"' }, 'dev')
  })

  it('refuses a document that is not a mapping', () => {
    expectFieldError(['name: local'], { path: '(document)', expected: 'a mapping' })
    expectFieldError(null, { path: '(document)', expected: 'a mapping', got: 'null' })
  })

  it('refuses secrets.fields that is not a list of strings', () => {
    const raw = base()
    raw.secrets.fields = 'age_cluster_private_key'
    expectFieldError(raw, { path: 'secrets.fields', expected: 'a list' })
    raw.secrets.fields = ['age_cluster_private_key', 42]
    expectFieldError(raw, { path: 'secrets.fields[1]', expected: 'a non-empty string', got: '42' })
  })
})

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-test-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  function write(env: string, text: string): void {
    mkdirSync(join(dir, env), { recursive: true })
    writeFileSync(join(dir, env, 'config.yaml'), text)
  }

  it('loads every real environment', () => {
    const envs = listEnvironments()
    expect(envs).toEqual(expect.arrayContaining(['dev', 'local', 'prod', 'staging']))
    for (const env of envs) {
      const config = loadConfig(env)
      expect(config.name).toBe(env)
      expect(config.file).toBe(join(environmentsDir, env, 'config.yaml'))
    }
  })

  it('names the file and the first YAML problem for invalid YAML', () => {
    write('broken', 'name: broken\ncluster: [unclosed\n')
    const error = caught(() => loadConfig('broken', dir))
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain(join('broken', 'config.yaml'))
    expect(error.message).toContain('is not valid YAML')
  })

  it('names the file of a field error when loaded from disk', () => {
    const raw = base()
    raw.name = 'other'
    raw.cluster.provider = 'docker'
    write('other', JSON.stringify(raw))
    const error = caught(() => loadConfig('other', dir))
    expect(error.message).toMatch(
      /other\/config\.yaml: field "cluster\.provider" must be one of kind, existing, local/,
    )
  })

  it('refuses an unknown environment and lists the known ones', () => {
    write('alpha', 'name: alpha\n')
    write('beta', 'name: beta\n')
    mkdirSync(join(dir, 'not-an-env'), { recursive: true })
    const error = caught(() => loadConfig('gamma', dir))
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain('unknown environment "gamma"')
    expect(error.message).toContain(join('gamma', 'config.yaml'))
    expect(error.hint).toBe(`known environments: ${listEnvironments(dir).join(', ')}`)
    expect(error.hint).toContain('alpha, beta')
    expect(error.hint).not.toContain('not-an-env')
  })

  it('lists the real environments when one of them is misspelled', () => {
    const error = caught(() => loadConfig('staing'))
    expect(error.hint).toBe(`known environments: ${listEnvironments().join(', ')}`)
    for (const env of ['dev', 'local', 'prod', 'staging']) expect(error.hint).toContain(env)
  })
})
