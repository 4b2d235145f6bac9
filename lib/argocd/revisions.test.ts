import { describe, expect, it } from 'vitest'
import { ProcessError } from '../core/errors.ts'
import type { Run, RunOptions } from '../core/exec.ts'
import { redactor } from '../core/redact.ts'
import type { KObject } from '../kube/client.ts'
import { loadConfig } from '../runner/config.ts'
import { expectedRevisions } from './revisions.ts'

const app = (name: string, source: Record<string, string>): KObject =>
  ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name },
    spec: { source },
  }) as KObject

const staging = loadConfig('staging')
const PLATFORM = staging.gitops.platformRepo.url
const SHA = 'c'.repeat(40)

function recorder(answer: (args: string[]) => string | Error) {
  const calls: { args: string[]; options?: RunOptions }[] = []
  const run: Run = async (_command, args, options) => {
    calls.push({ args, options })
    const out = answer(args)
    if (out instanceof Error) throw out
    return { stdout: out, stderr: '' }
  }
  return { run, calls }
}

describe('expectedRevisions', () => {
  it('served repositories: the commit this run published, for HEAD (or main) only; charts need none', async () => {
    const served = 'file:///gitops-repos/platform'
    const { run, calls } = recorder(() => new Error('no git call for a served repo'))
    const expected = await expectedRevisions(
      [
        app('root', { repoURL: served, targetRevision: 'HEAD', path: 'gitops/apps' }),
        app('pinned', { repoURL: served, targetRevision: 'v1.0.0', path: 'x' }),
        app('openbao', {
          repoURL: 'https://openbao.github.io/openbao-helm',
          chart: 'openbao',
          targetRevision: '0.26.0',
        }),
      ],
      {
        env: loadConfig('local'),
        source: { platformURL: served, tenantURLs: {}, revisions: { [served]: SHA } },
        values: {},
        run,
        warn: () => {},
      },
    )
    expect(expected(app('root', { repoURL: served, targetRevision: 'HEAD', path: 'gitops/apps' }))).toBe(SHA)
    expect(expected(app('pinned', { repoURL: served, targetRevision: 'v1.0.0', path: 'x' }))).toBeUndefined()
    expect(
      expected(app('openbao', { repoURL: 'https://openbao.github.io/openbao-helm', chart: 'openbao' })),
    ).toBeUndefined()
    expect(calls).toEqual([])
  })

  it('remote repositories: what the tracked ref points at (git ls-remote), the token in the environment, never in argv', async () => {
    const token = 'ghp_remoteRepositoryToken123'
    const { run, calls } = recorder((args) => `${SHA}\trefs/heads/${args[2]?.replace('refs/heads/', '')}\n`)
    const expected = await expectedRevisions(
      [app('root', { repoURL: PLATFORM, targetRevision: 'main', path: 'gitops/apps' })],
      {
        env: staging,
        source: { platformURL: PLATFORM, tenantURLs: {} },
        values: { [staging.gitops.platformRepo.passwordField]: token },
        run,
        warn: () => {},
      },
    )
    expect(expected(app('root', { repoURL: PLATFORM, targetRevision: 'main', path: 'gitops/apps' }))).toBe(
      SHA,
    )
    expect(calls).toHaveLength(1)
    expect(calls[0]?.args).toEqual(['ls-remote', PLATFORM, 'refs/heads/main'])
    expect(JSON.stringify(calls[0]?.args)).not.toContain(token)
    const header = calls[0]?.options?.env?.GIT_CONFIG_VALUE_0 ?? ''
    expect(Buffer.from(header.replace('Authorization: Basic ', ''), 'base64').toString()).toBe(
      `${staging.gitops.platformRepo.username}:${token}`,
    )
    expect(redactor.mask(header)).not.toContain(header.slice(-12))
  })

  it('a remote that does not answer: a warning, and converged is judged without a revision', async () => {
    const warnings: string[] = []
    const { run } = recorder(
      () => new ProcessError('git ls-remote', 128, 'fatal: unable to access: Could not resolve host'),
    )
    const expected = await expectedRevisions(
      [app('root', { repoURL: PLATFORM, targetRevision: 'HEAD', path: 'gitops/apps' })],
      {
        env: staging,
        source: { platformURL: PLATFORM, tenantURLs: {} },
        values: {},
        run,
        warn: (m) => warnings.push(m),
      },
    )
    expect(
      expected(app('root', { repoURL: PLATFORM, targetRevision: 'HEAD', path: 'gitops/apps' })),
    ).toBeUndefined()
    expect(warnings.join('\n')).toMatch(
      new RegExp(
        `cannot tell which commit ${PLATFORM.replace(/[.]/g, '\\.')} HEAD is at \\(git ls-remote failed \\(exit 128\\)`,
      ),
    )
  })
})
