import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaSync } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { run } from '../core/exec.ts'
import { repoRoot } from '../core/paths.ts'
import { versions } from '../core/versions.ts'
import { upstreamChartRepos } from '../helm/chart-mirror.ts'
import type { EnvConfig } from '../runner/config.ts'
import { publishCheckout } from './gitops-source.ts'

const PLATFORM = 'https://github.com/example-org/platform-gitops.git'
const TENANT = 'https://github.com/example-tenant/tenant-gitops.git'

/** Just what publishCheckout reads: the platform repo and one tenant. */
const env = {
  name: 'test',
  root: repoRoot,
  gitops: {
    platformRepo: { url: PLATFORM, username: 'bot', passwordField: 'github_token_platform' },
    tenantRepos: { 'tenant-a': { url: TENANT, username: 'bot', passwordField: 'github_token_tenant' } },
  },
} as unknown as EnvConfig

const served = (repo: string) => `file:///gitops-repos/${repo}`
const reposDir = mkdtempSync(join(tmpdir(), 'gitops-source-test-'))
afterAll(() => rmSync(reposDir, { recursive: true, force: true }))

const git = (repo: string, ...args: string[]) =>
  execaSync('git', ['-C', join(reposDir, repo), ...args]).stdout.trim()
const head = (repo: string) => git(repo, 'rev-parse', 'HEAD')
const commits = (repo: string) => Number(git(repo, 'rev-list', '--count', 'HEAD'))

/** YAML files of the checkout that name `url`, relative to `dir`. */
function yamlNaming(dir: string, url: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.ya?ml$/.test(file))
    .filter((file) => readFileSync(join(dir, file), 'utf8').includes(url))
    .sort()
}

describe('publishCheckout', () => {
  let firstHeads: Record<string, string> = {}

  it('commits a snapshot of gitops/ and of each tenant repo, and returns the served URLs', async () => {
    const source = await publishCheckout(env, reposDir, served, run)
    expect(source).toEqual({
      platformURL: 'file:///gitops-repos/platform',
      tenantURLs: { 'tenant-a': 'file:///gitops-repos/tenant-tenant-a' },
      // The commits published, by served URL: what the Applications must be synced at.
      revisions: {
        'file:///gitops-repos/platform': head('platform'),
        'file:///gitops-repos/tenant-tenant-a': head('tenant-tenant-a'),
      },
    })
    for (const repo of ['platform', 'tenant-tenant-a']) {
      expect(existsSync(join(reposDir, repo, '.git'))).toBe(true)
      expect(commits(repo)).toBe(1)
      expect(git(repo, 'status', '--porcelain')).toBe('')
    }
    // The platform repo holds gitops/ under its own name; a tenant repo holds its folder at the top.
    expect(git('platform', 'ls-files').split('\n').sort()).toEqual(
      filesIn(join(repoRoot, 'gitops')).map((file) => `gitops/${file}`),
    )
    const tenantSource = join(repoRoot, 'gitops', 'tenant-repos', 'tenant-a')
    expect(git('tenant-tenant-a', 'ls-files').split('\n').sort()).toEqual(filesIn(tenantSource))
    firstHeads = { platform: head('platform'), tenant: head('tenant-tenant-a') }
  })

  it('rewrites the canonical repository URLs to the served ones in the committed snapshot', () => {
    const gitopsDir = join(repoRoot, 'gitops')
    const naming = { platform: yamlNaming(gitopsDir, PLATFORM), tenant: yamlNaming(gitopsDir, TENANT) }
    // The checkout does name both URLs (else this test proves nothing).
    expect(naming.platform.length).toBeGreaterThan(0)
    expect(naming.tenant.length).toBeGreaterThan(0)
    for (const [url, files, to] of [
      [PLATFORM, naming.platform, served('platform')],
      [TENANT, naming.tenant, served('tenant-tenant-a')],
    ] as const) {
      for (const file of files) {
        const committed = git('platform', 'show', `HEAD:gitops/${file}`)
        expect(committed, file).not.toContain(url)
        expect(committed, file).toContain(to)
      }
    }
    const snapshot = join(reposDir, 'platform', 'gitops')
    expect(yamlNaming(snapshot, PLATFORM)).toEqual([])
    expect(yamlNaming(snapshot, TENANT)).toEqual([])
    // Every file of gitops/ is in the snapshot.
    expect(filesIn(snapshot)).toEqual(filesIn(gitopsDir))
  })

  it('makes no new commit when nothing changed, and runs no git process for it', async () => {
    const calls: string[] = []
    const counting: typeof run = (command, args, options) => {
      calls.push(`${command} ${args.join(' ')}`)
      return run(command, args, options)
    }
    await publishCheckout(env, reposDir, served, counting)
    expect(calls).toEqual([])
    expect(head('platform')).toBe(firstHeads.platform)
    expect(head('tenant-tenant-a')).toBe(firstHeads.tenant)
    expect(commits('platform')).toBe(1)
    expect(git('platform', 'status', '--porcelain')).toBe('')
  })

  it('publishes again when the served branch moved (someone committed there): the snapshot is restored', async () => {
    const repo = join(reposDir, 'tenant-tenant-a')
    writeFileSync(join(repo, 'stray.yaml'), 'kind: Stray\n')
    git('tenant-tenant-a', 'add', 'stray.yaml')
    execaSync('git', ['-C', repo, '-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-qm', 'stray'])
    await publishCheckout(env, reposDir, served, run)
    expect(existsSync(join(repo, 'stray.yaml'))).toBe(false)
    expect(git('tenant-tenant-a', 'ls-files').split('\n')).not.toContain('stray.yaml')
    expect(git('tenant-tenant-a', 'status', '--porcelain')).toBe('')
    firstHeads.tenant = head('tenant-tenant-a')
  })

  it('commits again when the published content changes (other served URLs)', async () => {
    const source = await publishCheckout(env, reposDir, (repo) => `http://127.0.0.1:9418/${repo}.git`, run)
    expect(head('platform')).not.toBe(firstHeads.platform)
    expect(commits('platform')).toBe(2)
    expect(source.revisions?.['http://127.0.0.1:9418/platform.git']).toBe(head('platform'))
    const file = yamlNaming(join(repoRoot, 'gitops'), PLATFORM)[0]
    expect(git('platform', 'show', `HEAD:gitops/${file}`)).toContain('http://127.0.0.1:9418/platform.git')
  })
})

describe('publishCheckout into new repositories', () => {
  const counted = (after?: (args: string[]) => Promise<void>) => {
    const calls: string[] = []
    const counting: typeof run = async (command, args, options) => {
      calls.push(`${command} ${args[2] ?? ''}`)
      const result = await run(command, args, options)
      await after?.(args)
      return result
    }
    return { calls, counting }
  }
  const headIn = (dir: string, repo: string) =>
    execaSync('git', ['-C', join(dir, repo), 'rev-parse', 'HEAD']).stdout

  it('makes each with three git processes (init, add, commit) and returns the commit made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitops-source-new-'))
    try {
      const { calls, counting } = counted()
      const source = await publishCheckout(env, dir, served, counting)
      expect(calls.filter((call) => call.startsWith('git ')).sort()).toEqual(
        ['add', 'add', 'commit', 'commit', 'init', 'init'].map((sub) => `git ${sub}`),
      )
      expect(source.revisions).toEqual({
        [served('platform')]: headIn(dir, 'platform'),
        [served('tenant-tenant-a')]: headIn(dir, 'tenant-tenant-a'),
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('asks git for the commit when the branch has no loose ref file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitops-source-packed-'))
    try {
      // Packs the refs right after each commit, as `git pack-refs` or a ref store without loose files leaves them.
      const { calls, counting } = counted(async (args) => {
        if (args[2] === 'commit') await run('git', [...args.slice(0, 2), 'pack-refs', '--all'])
      })
      const source = await publishCheckout(env, dir, served, counting)
      expect(existsSync(join(dir, 'platform', '.git', 'refs', 'heads', 'main'))).toBe(false)
      expect(calls.filter((call) => call === 'git rev-parse')).toHaveLength(2)
      expect(source.revisions?.[served('platform')]).toBe(headIn(dir, 'platform'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** Every file under `dir`, relative to it, sorted. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => statSync(join(dir, file)).isFile())
    .sort()
}

describe('publishCheckout with a charts mirror', () => {
  it('names the mirror wherever an Application or AppProject names an upstream chart repository, and leaves gitops/ as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitops-source-mirror-'))
    try {
      const mirror = 'http://chart-mirror.argocd.svc.cluster.local:8080'
      await publishCheckout(env, dir, served, run, { chartRepoURL: mirror })
      const published = join(dir, 'platform', 'gitops')
      const named = upstreamChartRepos().filter(
        (upstream) => yamlNaming(join(repoRoot, 'gitops'), upstream).length,
      )
      // The Argo CD chart is installed by step 06, not by an Application: the tree names the other two.
      expect(named).toEqual([versions.charts.openbao.repo, versions.charts.secretsStoreCsiDriver.repo])
      for (const upstream of named) expect(yamlNaming(published, upstream), upstream).toEqual([])
      expect(yamlNaming(published, mirror)).toEqual([
        'apps/runtime-secrets/openbao.yaml',
        'apps/runtime-secrets/secrets-store-csi-driver.yaml',
        'platform/default-project.yaml',
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
