import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../config.ts'
import type { Context } from '../context.ts'
import { BootstrapError } from '../errors.ts'
import type { RunOptions } from '../exec.ts'
import type { KObject, Kube } from '../kube.ts'
import { Logger, memorySink } from '../log.ts'
import { versions } from '../versions.ts'
import { kindProvider } from './kind.ts'

interface Call {
  command: string
  args: string[]
  input?: string
  /** Whether the served-repos folder existed (owned by this user) when the command ran. */
  reposDirOwned?: boolean
}

const readyNode = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'n' },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
} as unknown as KObject

/** A context whose `kind` binary is a recording fake with the given clusters. */
function fakeContext(clusters: string[], flags: Partial<Context['flags']> = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), 'pb-kind-'))
  const calls: Call[] = []
  const sink = memorySink()
  const kube = { list: async () => [readyNode] } as unknown as Kube
  const ctx = {
    env: loadConfig('dev'),
    flags: { dryRun: false, force: false, rotate: [], ...flags },
    log: new Logger({ sink }),
    stateDir,
    kube: async () => kube,
    run: async (command: string, args: string[], options: RunOptions = {}) => {
      const repos = join(stateDir, 'repos')
      const reposDirOwned = existsSync(repos) && statSync(repos).uid === process.getuid?.()
      calls.push({ command, args, input: options.input, reposDirOwned })
      if (args[0] === 'get' && args[1] === 'clusters') return { stdout: clusters.join('\n'), stderr: '' }
      if (args[0] === 'get' && args[1] === 'kubeconfig')
        return { stdout: 'apiVersion: v1\nkind: Config\n', stderr: '' }
      return { stdout: '', stderr: '' }
    },
  } as unknown as Context
  dirs.push(stateDir)
  return { ctx, calls, sink, stateDir }
}

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('kind provider', () => {
  it('creates a missing cluster from a config with the pinned node image and marks it as its own', async () => {
    const { ctx, calls, stateDir } = fakeContext([])
    await kindProvider.ensureCluster(ctx)
    const create = calls.find((call) => call.args[0] === 'create')
    expect(create?.args).toEqual(
      expect.arrayContaining(['cluster', '--name', 'platform-dev', '--config', '/dev/stdin']),
    )
    expect(create?.input).toContain(`image: ${versions.kindNodeImage}`)
    expect(create?.input).toContain('containerPath: /gitops-repos')
    expect(existsSync(join(stateDir, 'created-by-platform-bootstrap'))).toBe(true)
  })

  it('makes the served-repos folder as the user before kind bind-mounts it (Docker would make it as root)', async () => {
    const { ctx, calls } = fakeContext([])
    await kindProvider.ensureCluster(ctx)
    const create = calls.find((call) => call.args[0] === 'create')
    expect(create?.input).toContain(`hostPath: ${join(ctx.stateDir, 'repos')}`)
    expect(create?.reposDirOwned).toBe(true)
  })

  it('reuses a cluster that exists: no create, its kubeconfig is written 0600', async () => {
    const { ctx, calls, stateDir } = fakeContext(['platform-dev'])
    await kindProvider.ensureCluster(ctx)
    expect(calls.some((call) => call.args[0] === 'create')).toBe(false)
    expect(existsSync(join(stateDir, 'kubeconfig'))).toBe(true)
  })

  it('destroy refuses a cluster it did not create, unless --force', async () => {
    const { ctx, calls } = fakeContext(['platform-dev'])
    await expect(kindProvider.destroy(ctx)).rejects.toThrow(BootstrapError)
    const refusal = await kindProvider.destroy(ctx).catch((error: BootstrapError) => error)
    expect(refusal).toBeInstanceOf(BootstrapError)
    expect((refusal as BootstrapError).message).toMatch(/not created by platform-bootstrap/)
    expect((refusal as BootstrapError).hint).toMatch(/just destroy dev --force/)
    expect(calls.some((call) => call.args[0] === 'delete')).toBe(false)

    const forced = fakeContext(['platform-dev'], { force: true })
    await kindProvider.destroy(forced.ctx)
    expect(forced.calls.find((call) => call.args[0] === 'delete')?.args).toEqual([
      'delete',
      'cluster',
      '--name',
      'platform-dev',
    ])
  })

  it('destroy deletes the cluster it created, and keeps the state folder (keys live elsewhere)', async () => {
    const { ctx, calls, stateDir } = fakeContext(['platform-dev'])
    writeFileSync(join(stateDir, 'created-by-platform-bootstrap'), 'platform-dev\n')
    await kindProvider.destroy(ctx)
    expect(calls.some((call) => call.args[0] === 'delete')).toBe(true)
    expect(existsSync(join(stateDir, 'created-by-platform-bootstrap'))).toBe(false)
    expect(existsSync(stateDir)).toBe(true)
  })

  it('destroy with no cluster there does nothing', async () => {
    const { ctx, calls, sink } = fakeContext([])
    await kindProvider.destroy(ctx)
    expect(calls.some((call) => call.args[0] === 'delete')).toBe(false)
    expect(sink.lines.join('\n')).toMatch(/nothing to do/)
  })
})
