import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { Run } from '../core/exec.ts'
import { upstreamChartRepos } from '../helm/chart-mirror.ts'
import type { EnvConfig } from '../runner/config.ts'

/** The repositories Argo CD pulls from, by URL as the Applications and repository Secrets name them. */
export interface GitopsSource {
  platformURL: string
  tenantURLs: Record<string, string>
  /**
   * The commit each served repository's HEAD is at once published (URL → SHA): what the
   * Applications must be synced at to count as converged. Remote repositories are absent.
   */
  revisions?: Record<string, string>
}

/**
 * Serves this checkout as the platform repository (dev and local): `gitops/` as it is on disk,
 * uncommitted changes included, is copied into a git repository under the state folder and
 * committed there; each tenant repo comes from `gitops/tenant-repos/<tenant>/`. The committed
 * manifests name the canonical repository URLs; in the snapshot they are rewritten to the
 * served ones, so the AppProject locks are enforced against the URLs Argo CD really pulls.
 * With a charts mirror, the upstream chart repositories the Applications and AppProjects name are
 * rewritten to it the same way. An unchanged checkout makes no new commit, so the revision Argo CD
 * sees does not move.
 */
export async function publishCheckout(
  env: EnvConfig,
  reposDir: string,
  urlFor: (repoName: string) => string,
  run: Run,
  options: {
    /** charts.mirror as Argo CD reaches it: every upstream chart repository the tree names becomes it. */
    chartRepoURL?: string
    /** The URLs only: nothing is copied or committed (a dry run writes nothing). */
    dryRun?: boolean
  } = {},
): Promise<GitopsSource> {
  const tenantURLs = Object.fromEntries(
    Object.keys(env.gitops.tenantRepos).map((tenant) => [tenant, urlFor(tenantRepoName(tenant))]),
  )
  if (options.dryRun) return { platformURL: urlFor('platform'), tenantURLs }
  const rewrites: [string, string][] = [[env.gitops.platformRepo.url, urlFor('platform')]]
  for (const [tenant, repo] of Object.entries(env.gitops.tenantRepos))
    rewrites.push([repo.url, urlFor(tenantRepoName(tenant))])
  if (options.chartRepoURL)
    for (const upstream of upstreamChartRepos()) rewrites.push([upstream, options.chartRepoURL])

  // One repository each, so they are published side by side.
  const published = await Promise.all([
    snapshot(join(env.root, 'gitops'), join(reposDir, 'platform'), 'gitops', rewrites, run).then(
      (revision) => [urlFor('platform'), revision] as const,
    ),
    ...Object.keys(env.gitops.tenantRepos)
      .map((tenant) => ({
        source: join(env.root, 'gitops', 'tenant-repos', tenant),
        name: tenantRepoName(tenant),
      }))
      .filter(({ source }) => existsSync(source))
      .map(({ source, name }) =>
        snapshot(source, join(reposDir, name), '.', rewrites, run).then(
          (revision) => [urlFor(name), revision] as const,
        ),
      ),
  ])
  const revisions: Record<string, string> = Object.fromEntries(published)
  return { platformURL: urlFor('platform'), tenantURLs, revisions }
}

/** The repositories publishCheckout serves, by folder name: the platform's and one per tenant. */
export function servedRepoNames(env: EnvConfig): string[] {
  return ['platform', ...Object.keys(env.gitops.tenantRepos).map(tenantRepoName)]
}

const tenantRepoName = (tenant: string) => `tenant-${tenant}`

async function snapshot(
  source: string,
  repo: string,
  into: string,
  rewrites: [string, string][],
  run: Run,
): Promise<string> {
  const git = (...args: string[]) => run('git', ['-C', repo, ...args], { env: GIT_IDENTITY })
  // What was published last, as a digest of the source and the rewrites: the same again costs no
  // git process (a platform with a hundred tenants has a hundred served repositories).
  const digest = await sourceDigest(source, into, rewrites)
  const stamp = join(repo, '.git', 'platform-bootstrap-source')
  const published = existsSync(stamp) ? await readFile(stamp, 'utf8') : ''
  const stamped = published.startsWith(`${digest} `) ? published.slice(digest.length + 1).trim() : ''
  // …and only while the branch is still at the commit it made. Its loose ref file says which, no
  // process; where git keeps none (a reftable ref store, `init.defaultRefFormat`) it is undefined.
  const ref = join(repo, '.git', 'refs', 'heads', 'main')
  const branchHead = async () => (existsSync(ref) ? (await readFile(ref, 'utf8')).trim() : undefined)
  if (stamped && (await branchHead()) === stamped) return stamped
  const fresh = !existsSync(join(repo, '.git'))
  if (fresh) {
    await mkdir(repo, { recursive: true })
    await git('init', '--quiet', '--initial-branch=main')
  }
  const target = join(repo, into)
  if (into === '.') {
    for (const entry of await readdir(repo))
      if (entry !== '.git') await rm(join(repo, entry), { recursive: true, force: true })
  } else {
    await rm(target, { recursive: true, force: true })
  }
  await cp(source, target, { recursive: true })
  await rewriteUrls(target, rewrites)
  await git('add', '--all')
  // A new repository has everything to commit. Otherwise one status says both what changed and
  // the commit HEAD is at (`# branch.oid`): a run with nothing new costs two git processes.
  const status = fresh ? '' : (await git('status', '--porcelain=v2', '--branch')).stdout
  const changed = fresh || status.split('\n').some((line) => line && !line.startsWith('#'))
  let revision = /^# branch\.oid ([0-9a-f]{40})$/m.exec(status)?.[1]
  if (changed || !revision) {
    await git('commit', '--quiet', '--message', 'snapshot of the platform-bootstrap checkout')
    revision = (await branchHead()) ?? (await git('rev-parse', 'HEAD')).stdout.trim()
  }
  await writeFile(stamp, `${digest} ${revision}\n`)
  return revision
}

/** Every file under the source (path and bytes, in order), where it goes and the URL rewrites: one sha256. */
async function sourceDigest(source: string, into: string, rewrites: [string, string][]): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify({ into, rewrites }))
  const entries = (await readdir(source, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
  for (const file of entries) hash.update(`\0${relative(source, file)}\0`).update(await readFile(file))
  return hash.digest('hex')
}

async function rewriteUrls(dir: string, rewrites: [string, string][]): Promise<void> {
  for (const relative of await readdir(dir, { recursive: true })) {
    if (!/\.ya?ml$/.test(relative)) continue
    const file = join(dir, relative)
    const text = await readFile(file, 'utf8')
    let out = text
    for (const [from, to] of rewrites) if (from !== to) out = out.split(from).join(to)
    if (out !== text) await writeFile(file, out)
  }
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'platform-bootstrap',
  GIT_AUTHOR_EMAIL: 'platform-bootstrap@localhost',
  GIT_COMMITTER_NAME: 'platform-bootstrap',
  GIT_COMMITTER_EMAIL: 'platform-bootstrap@localhost',
  GIT_CONFIG_NOSYSTEM: '1',
}
