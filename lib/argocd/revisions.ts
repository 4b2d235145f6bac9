import { errorMessage } from '../core/errors.ts'
import type { Run } from '../core/exec.ts'
import { redactor } from '../core/redact.ts'
import type { KObject } from '../kube/client.ts'
import type { EnvConfig, RepoConfig } from '../runner/config.ts'
import type { GitopsSource } from './gitops-source.ts'

/**
 * The commit each Application must be synced at to count as converged: for a served checkout, the
 * one this run published; for a remote repository, the one its tracked ref points at now (git
 * ls-remote, with the repository's own credentials). Unknown (a chart, a ref that is not HEAD or a
 * branch of a served repo, a remote that does not answer): no revision is required.
 */
export type ExpectedRevision = (app: KObject) => string | undefined

export interface RevisionDeps {
  env: EnvConfig
  source: GitopsSource
  /** Bootstrap values: the repositories' tokens. */
  values: Record<string, string>
  run: Run
  warn(message: string): void
}

/** Resolves every Application's expected revision up front (one ls-remote per remote ref), then answers from memory. */
export async function expectedRevisions(apps: KObject[], deps: RevisionDeps): Promise<ExpectedRevision> {
  const known = new Map<string, string | undefined>()
  for (const app of apps) {
    const source = gitSource(app)
    if (!source) continue
    const key = `${source.repoURL} ${source.targetRevision}`
    if (!known.has(key)) known.set(key, await revisionOf(source.repoURL, source.targetRevision, deps))
  }
  return (app) => {
    const source = gitSource(app)
    return source ? known.get(`${source.repoURL} ${source.targetRevision}`) : undefined
  }
}

function gitSource(app: KObject): { repoURL: string; targetRevision: string } | undefined {
  const source = (
    app.spec as { source?: { repoURL?: string; chart?: string; targetRevision?: string } } | undefined
  )?.source
  if (!source?.repoURL || source.chart) return undefined
  return { repoURL: source.repoURL, targetRevision: source.targetRevision || 'HEAD' }
}

async function revisionOf(url: string, ref: string, deps: RevisionDeps): Promise<string | undefined> {
  const served = deps.source.revisions?.[url]
  if (served !== undefined) return ref === 'HEAD' || ref === 'main' ? served : undefined
  if (/^[0-9a-f]{40}$/.test(ref)) return ref
  const repo = repoFor(url, deps.env)
  try {
    const { stdout } = await deps.run(
      'git',
      ['ls-remote', url, ref === 'HEAD' ? 'HEAD' : `refs/heads/${ref}`],
      {
        env: { ...authEnv(url, repo, deps.values), GIT_TERMINAL_PROMPT: '0' },
        timeoutMs: 15_000,
      },
    )
    const sha = stdout.split('\n')[0]?.split(/\s+/)[0]
    if (sha && /^[0-9a-f]{40}$/.test(sha)) return sha
    deps.warn(`${url} has no ref ${ref}: converged is judged without the revision it should be at`)
  } catch (error) {
    deps.warn(
      `cannot tell which commit ${url} ${ref} is at (${errorMessage(error)}): converged is judged without it`,
    )
  }
  return undefined
}

function repoFor(url: string, env: EnvConfig): RepoConfig | undefined {
  const { platformRepo, tenantRepos } = env.gitops
  return [platformRepo, ...Object.values(tenantRepos)].find((repo) => repo.url === url)
}

/**
 * HTTPS credentials as an Authorization header in the environment, never on the command line
 * (every user can read a process's arguments). SSH URLs use the person's own SSH setup.
 */
function authEnv(
  url: string,
  repo: RepoConfig | undefined,
  values: Record<string, string>,
): NodeJS.ProcessEnv {
  const token = repo && values[repo.passwordField]
  if (!repo || !token || !/^https?:\/\//.test(url)) return {}
  const header = `Authorization: Basic ${Buffer.from(`${repo.username}:${token}`).toString('base64')}`
  redactor.add(header)
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: header }
}
