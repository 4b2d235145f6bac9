import { existsSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parse } from 'yaml'
import { expectTenantConfined } from '../../tests/assertions/tenant-checks.ts'
import { caught } from '../../tests/helpers/caught.ts'
import {
  copyTree,
  decryptJson,
  snapshot,
  deps as sopsDeps,
  stranger,
  useSecretsFixtures,
  value,
} from '../../tests/helpers/secrets-fixtures.ts'
import { BootstrapError } from '../core/errors.ts'
import { run } from '../core/exec.ts'
import { repoRoot } from '../core/paths.ts'
import { loadConfig } from '../runner/config.ts'
import { checkSecrets } from '../secrets/check.ts'
import { writeEncrypted } from '../sops/index.ts'
import { addTenant, credentialField, removeTenant, type TenantDeps } from './tenant.ts'

useSecretsFixtures()

/**
 * `just tenant add` / `remove` on a copy of the checkout, with real sops and age: the files it
 * writes pass the checks hand-written tenants pass, every environment gets the repository and the
 * credential (the value never printed), a second run writes nothing, a refusal writes nothing, and
 * remove gives back the files as they were, comments included.
 */
const REPO = 'https://git.example.org/team-b/workloads.git'

function tenantDeps(root: string, token?: string) {
  const lines: string[] = []
  const asked: string[] = []
  const deps: TenantDeps = {
    root,
    say: (line) => lines.push(line),
    token: async () => {
      asked.push('token')
      return token
    },
  }
  return { deps, lines, asked }
}

// sops runs with the team key (the one every SOPS file of the copy is encrypted to).
beforeAll(() => {
  vi.stubEnv('SOPS_AGE_KEY_FILE', sopsDeps.env.SOPS_AGE_KEY_FILE)
})
afterAll(() => {
  vi.unstubAllEnvs()
})

describe('tenant add / remove (a copy of the checkout, real sops)', () => {
  let root: string
  let before: Record<string, string>

  beforeAll(async () => {
    root = await copyTree()
    before = snapshot(root)
  }, 120_000)

  it('writes the tenant files, registers its repository everywhere and its credential in each SOPS file', async () => {
    const token = value('tenant-b-token')
    const { deps, lines } = tenantDeps(root, token)
    await addTenant({ name: 'team-b', repoURL: REPO }, deps)

    expectTenantConfined(root, 'team-b', REPO)
    const field = credentialField('team-b')
    expect(field).toBe('git_token_team_b')
    for (const env of ['dev', 'local', 'prod', 'staging']) {
      const config = loadConfig(env, join(root, 'environments'), {})
      expect(config.gitops.tenantRepos['team-b']).toEqual({
        url: REPO,
        username: config.gitops.platformRepo.username,
        passwordField: field,
      })
      expect(config.secrets.fields).toContain(field)
    }
    // staging and prod pull the repository themselves: the credential given; dev (served): the same.
    for (const env of ['staging', 'prod', 'dev'])
      expect((await decryptJson(root, join(root, `environments/${env}/secrets.sops.yaml`)))[field]).toBe(
        token,
      )
    // local has no SOPS file yet: its first create generates the field.
    expect(lines.join('\n')).toMatch(
      /environments\/local\/secrets\.sops\.yaml: not made yet; the next `just create local` generates git_token_team_b/,
    )
    expect(lines).toContain('gitops/apps/tenants/team-b.yaml: created')
    expect(lines.join('\n')).not.toContain(token)
    // The secrets check passes on what it wrote.
    expect(await checkSecrets({ root, deps: sopsDeps })).toEqual([])
  }, 120_000)

  it('keeps each config file as it was around the new entry: comments and layout', () => {
    for (const env of ['dev', 'staging']) {
      const file = `environments/${env}/config.yaml`
      const now = readFileSync(join(root, file), 'utf8')
      const was = Buffer.from(before[file] ?? '', 'base64').toString('utf8')
      const removed = was.split('\n').filter((line) => !now.split('\n').includes(line))
      expect(removed, `${file}: lines changed`).toEqual([])
    }
  })

  it('a second run finds everything as it would write it: nothing written, nothing asked', async () => {
    const after = snapshot(root)
    const { deps, lines, asked } = tenantDeps(root, value('another'))
    await addTenant({ name: 'team-b', repoURL: REPO }, deps)
    expect(snapshot(root)).toEqual(after)
    expect(asked).toEqual([])
    expect(lines.filter((line) => /created|added|: git_token_team_b set/.test(line))).toEqual([])
  }, 60_000)

  it('refuses, writing nothing: a name that is no DNS label, one Kubernetes uses, one that exists and differs', async () => {
    const after = snapshot(root)
    for (const [name, message] of [
      ['Team_B', /must be a DNS label/],
      ['kube-system', /Kubernetes uses that namespace/],
      ['argocd', /uses namespace argocd for the platform/],
      [
        'tenant-a',
        /tenant tenant-a exists already: gitops\/tenants\/tenant-a\/namespace\.yaml is there and differs/,
      ],
    ] as const) {
      const error = await caught(addTenant({ name, repoURL: REPO }, tenantDeps(root, 't').deps))
      expect(error, name).toBeInstanceOf(BootstrapError)
      expect((error as BootstrapError).message).toMatch(message)
      expect((error as BootstrapError).exitCode).toBe(2)
    }
    const other = await caught(
      addTenant({ name: 'team-b', repoURL: 'https://git.example.org/other.git' }, tenantDeps(root, 't').deps),
    )
    expect((other as BootstrapError).message).toMatch(/team-b exists already/)
    const withCredential = await caught(
      addTenant(
        { name: 'team-c', repoURL: 'https://bot:s3cret@git.example.org/c.git' },
        tenantDeps(root, 't').deps,
      ),
    )
    expect((withCredential as BootstrapError).message).toMatch(/carries a credential in its URL/)
    expect((withCredential as BootstrapError).message).not.toContain('s3cret')
    expect(snapshot(root)).toEqual(after)
  }, 60_000)

  it('staging pulls the repository for real: without a credential given it refuses, writing nothing', async () => {
    const after = snapshot(root)
    const { deps } = tenantDeps(root, undefined)
    const error = await caught(addTenant({ name: 'team-c', repoURL: REPO }, deps))
    expect((error as BootstrapError).message).toMatch(
      /environment (prod|staging) pulls .* itself: git_token_team_c must be the repository's real credential/,
    )
    expect(snapshot(root)).toEqual(after)
    // Served environments alone: a generated value, never printed.
    const served = tenantDeps(root, undefined)
    await addTenant({ name: 'team-c', repoURL: REPO, envs: ['dev', 'local'] }, served.deps)
    const generated = (await decryptJson(root, join(root, 'environments/dev/secrets.sops.yaml')))
      .git_token_team_c
    expect(generated).toMatch(/^[0-9a-f]{48}$/)
    expect(served.lines.join('\n')).not.toContain(generated)
    expect(loadConfig('staging', join(root, 'environments'), {}).gitops.tenantRepos['team-c']).toBeUndefined()
  }, 60_000)

  it('a SOPS file this person cannot decrypt stops it before anything is written', async () => {
    const file = join(root, 'environments/prod/secrets.sops.yaml')
    const saved = readFileSync(file)
    await writeEncrypted(file, { only: 'stranger' }, [stranger.recipient], { run, env: sopsDeps.env })
    const after = snapshot(root)
    try {
      const error = await caught(addTenant({ name: 'team-d', repoURL: REPO }, tenantDeps(root, 't').deps))
      expect(error).toBeInstanceOf(BootstrapError)
      expect((error as BootstrapError).message).toMatch(/environments\/prod\/secrets\.sops\.yaml/)
      expect(snapshot(root)).toEqual(after)
    } finally {
      writeFileSync(file, saved)
    }
  }, 60_000)

  it('remove takes it all away again: the checkout as it was before, byte for byte', async () => {
    for (const name of ['team-b', 'team-c']) {
      const { deps, lines } = tenantDeps(root)
      await removeTenant({ name }, deps)
      expect(lines.join('\n')).toMatch(new RegExp(`gitops/tenants/${name}: removed`))
      expect(lines.join('\n')).toMatch(/Argo CD deletes namespace/)
    }
    expect(existsSync(join(root, 'gitops/tenants/team-b'))).toBe(false)
    const now = snapshot(root)
    for (const file of [
      'environments/dev/config.yaml',
      'environments/staging/config.yaml',
      'environments/prod/config.yaml',
      'environments/local/config.yaml',
    ])
      expect(now[file], file).toBe(before[file])
    for (const env of ['staging', 'prod', 'dev']) {
      const decrypted = await decryptJson(root, join(root, `environments/${env}/secrets.sops.yaml`))
      expect(Object.keys(decrypted).filter((key) => key.startsWith('git_token_'))).toEqual([])
    }
    const gone = await caught(removeTenant({ name: 'team-b' }, tenantDeps(root).deps))
    expect(gone.exitCode).toBe(1)
    expect((gone as BootstrapError).message).toMatch(/no tenant team-b/)
    expect(
      parse(readFileSync(join(root, 'environments/dev/config.yaml'), 'utf8')).gitops.tenantRepos,
    ).toHaveProperty('tenant-a')
  }, 120_000)

  it('`just tenant` (scripts/tenant.ts): the credential on stdin, never printed; usage errors exit 2', async () => {
    const before = snapshot(root)
    // The CLI resolves its packages from the copy: linked to this checkout's (a copy of a copy may
    // have the link already).
    const link = join(root, 'node_modules')
    const linked = !existsSync(link)
    if (linked) symlinkSync(join(repoRoot, 'node_modules'), link)
    const bun = join(repoRoot, 'node_modules/.bin/bun')
    const cli = (args: string[], input = '') =>
      execa(bun, ['scripts/tenant.ts', ...args], {
        cwd: root,
        input,
        reject: false,
        all: true,
        env: sopsDeps.env,
      })
    const token = value('stdin-token')
    const added = await cli(
      ['add', 'team-e', '--repo', REPO, '--env', 'staging', '--token-stdin'],
      `${token}\n`,
    )
    expect(added.exitCode, added.all).toBe(0)
    expect(added.all).toContain('gitops/apps/tenants/team-e.yaml: created')
    expect(added.all).not.toContain(token)
    expect(
      (await decryptJson(root, join(root, 'environments/staging/secrets.sops.yaml'))).git_token_team_e,
    ).toBe(token)
    const dry = await cli(['remove', 'team-e', '--env', 'staging', '--dry-run'])
    expect(dry.all).toContain('gitops/tenants/team-e: would be removed')
    expect((await cli(['remove', 'team-e', '--env', 'staging'])).exitCode).toBe(0)
    for (const args of [['add', 'team-f'], ['rename', 'x'], []])
      expect((await cli(args)).exitCode, args.join(' ')).toBe(2)
    // The link only (never what it points to), before the folder is walked again.
    if (linked) unlinkSync(link)
    // Back as it was: the config byte for byte, the SOPS file (encrypted anew) without the field.
    const now = snapshot(root)
    expect(Object.keys(now).filter((file) => now[file] !== before[file])).toEqual([
      'environments/staging/secrets.sops.yaml',
    ])
    expect(await decryptJson(root, join(root, 'environments/staging/secrets.sops.yaml'))).not.toHaveProperty(
      'git_token_team_e',
    )
  }, 120_000)
})
