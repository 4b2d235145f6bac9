import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError, ProcessError } from '../core/errors.ts'
import type { RunOptions } from '../core/exec.ts'
import { versions } from '../core/versions.ts'
import type { KObject, Kube } from '../kube/client.ts'
import { loadConfig } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { kindProvider } from './kind.ts'
import { NODE_IMAGE_LABELS } from './kind-cli.ts'

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

interface Host {
  /** Bumped when the node containers are made anew (their ids change). */
  nodeGeneration?: number
  /** Images the kubelet reports in the Node's status.images (left out: none reported). */
  reported?: string[][]
  cgroupVersion?: number
  /** Labels of the node image in the engine; undefined: the engine does not have it. */
  nodeImageLabels?: Record<string, string>
  /** Archive file name → image names in its manifest. */
  archives?: Record<string, string[]>
  /** Images the node's containerd already holds (as containerd names them). */
  nodeImages?: string[]
}

/** A context whose `kind`, `docker` and `tar` binaries are recording fakes with the given clusters. */
function fakeContext(
  clusters: string[],
  flags: Partial<Context['flags']> = {},
  host: Host = {},
  stateDir = mkdtempSync(join(tmpdir(), 'pb-kind-')),
) {
  const calls: Call[] = []
  const sink = memorySink()
  const node = host.reported
    ? {
        ...readyNode,
        metadata: { name: 'platform-dev-control-plane' },
        status: { ...(readyNode.status as object), images: host.reported.map((names) => ({ names })) },
      }
    : readyNode
  const kube = { list: async () => [node] } as unknown as Kube
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
      if (command === 'kind' && args[0] === 'create') {
        clusters.push(args[args.indexOf('--name') + 1] ?? '')
        // kind writes the new cluster's kubeconfig where --kubeconfig says.
        writeFileSync(args[args.indexOf('--kubeconfig') + 1] ?? '', 'apiVersion: v1\nkind: Config\n')
      }
      // kind lists no node (and says so on stderr) for a cluster that is not there.
      if (command === 'kind' && args[0] === 'get' && args[1] === 'nodes')
        return clusters.includes(args[args.indexOf('--name') + 1] ?? '')
          ? { stdout: `${args[args.indexOf('--name') + 1]}-control-plane\n`, stderr: '' }
          : { stdout: '', stderr: 'No kind nodes found for cluster "platform-dev".\n' }
      if (command === 'docker' && args[0] === 'info')
        return { stdout: `${host.cgroupVersion ?? 2}\n`, stderr: '' }
      if (command === 'docker' && args[0] === 'image') {
        if (!host.nodeImageLabels) throw new ProcessError('docker image', 1, 'Error: No such image')
        return { stdout: `${JSON.stringify(host.nodeImageLabels)}\n`, stderr: '' }
      }
      if (command === 'docker' && args[0] === 'inspect')
        return {
          stdout: args
            .slice(5)
            .map((n) => `id-of-${n}-${host.nodeGeneration ?? 1}`)
            .join('\n'),
          stderr: '',
        }
      if (command === 'docker' && args[0] === 'exec')
        return { stdout: (host.nodeImages ?? []).join('\n'), stderr: '' }
      if (command === 'tar') {
        const images = host.archives?.[basename(args[1] ?? '')] ?? []
        return { stdout: JSON.stringify([{ RepoTags: images }]), stderr: '' }
      }
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

/** A create whose run was killed once kind had made the node container: what it leaves in its state folder. */
async function killedDuringKindCreate() {
  const made = fakeContext([])
  const run = made.ctx.run
  made.ctx.run = (async (command: string, args: string[], options?: RunOptions) => {
    if (command === 'kind' && args[0] === 'create') {
      await run(command, args, options)
      throw new ProcessError('kind create', 137, 'killed')
    }
    return run(command, args, options)
  }) as Context['run']
  await expect(kindProvider.ensureCluster(made.ctx)).rejects.toThrow(ProcessError)
  return made
}

describe('kind provider', () => {
  it('creates a missing cluster from a config with the pinned node image and marks it as its own', async () => {
    const { ctx, calls, stateDir } = fakeContext([])
    await kindProvider.ensureCluster(ctx)
    const create = calls.find((call) => call.args[0] === 'create')
    expect(create?.args).toEqual(
      expect.arrayContaining(['cluster', '--name', 'platform-dev', '--config', '-']),
    )
    expect(create?.input).toContain(`image: ${versions.kindNodeImage}`)
    expect(create?.input).toContain('containerPath: /gitops-repos')
    expect(existsSync(join(stateDir, 'created-by-platform-bootstrap'))).toBe(true)
  })

  it('marks the cluster as its own before kind starts: a run killed during kind create leaves one destroy may delete', async () => {
    const { stateDir } = await killedDuringKindCreate()
    expect(existsSync(join(stateDir, 'created-by-platform-bootstrap'))).toBe(true)
    const again = fakeContext(['platform-dev'], {}, {}, stateDir)
    await kindProvider.destroy(again.ctx)
    expect(again.calls.some((call) => call.args[0] === 'delete')).toBe(true)
  })

  it('a cluster left half-made by a create stopped during kind create is deleted and made again; a dry run only says so', async () => {
    const { stateDir } = await killedDuringKindCreate()
    const unfinished = join(stateDir, 'kind-create-unfinished')
    expect(existsSync(unfinished)).toBe(true)
    // It holds nothing: destroy takes no OpenBao snapshot of it, a dry run compares nothing with it.
    expect(await kindProvider.hasCluster(fakeContext(['platform-dev'], {}, {}, stateDir).ctx)).toBe(false)

    const dry = fakeContext(['platform-dev'], { dryRun: true }, {}, stateDir)
    await kindProvider.ensureCluster(dry.ctx)
    expect(dry.calls.filter((call) => ['create', 'delete'].includes(call.args[0] ?? ''))).toEqual([])
    expect(dry.sink.lines.join('\n')).toMatch(
      /kind cluster platform-dev: left half-made by a create stopped during `kind create cluster` .*: would be deleted and made again/,
    )

    const again = fakeContext(['platform-dev'], {}, {}, stateDir)
    await kindProvider.ensureCluster(again.ctx)
    expect(
      again.calls
        .filter((call) => call.command === 'kind' && ['create', 'delete'].includes(call.args[0] ?? ''))
        .map((call) => call.args[0]),
    ).toEqual(['delete', 'create'])
    expect(again.sink.lines.join('\n')).toMatch(/left half-made .*: deleted, and made again/)
    expect(existsSync(unfinished)).toBe(false)

    expect(await kindProvider.hasCluster(fakeContext(['platform-dev'], {}, {}, stateDir).ctx)).toBe(true)
    // Made whole: the next run reuses it.
    const next = fakeContext(['platform-dev'], {}, {}, stateDir)
    await kindProvider.ensureCluster(next.ctx)
    expect(next.calls.some((call) => ['create', 'delete'].includes(call.args[0] ?? ''))).toBe(false)
  })

  it('a run that died after kind create returned, before clearing its mark, finds the nodes stamped: reused', async () => {
    const made = fakeContext([])
    await kindProvider.ensureCluster(made.ctx)
    writeFileSync(join(made.stateDir, 'kind-create-unfinished'), 'platform-dev\n')
    const again = fakeContext(['platform-dev'], {}, {}, made.stateDir)
    await kindProvider.ensureCluster(again.ctx)
    expect(again.calls.some((call) => ['create', 'delete'].includes(call.args[0] ?? ''))).toBe(false)
  })

  it('configures what the host and node image need, and says so', async () => {
    const { ctx, calls, sink } = fakeContext(
      [],
      {},
      {
        cgroupVersion: 1,
        nodeImageLabels: {
          [NODE_IMAGE_LABELS.cni]: 'static',
          [NODE_IMAGE_LABELS.resolvConf]: '/kind/pod-resolv.conf',
        },
      },
    )
    ctx.env.cluster.nodeImage = 'platform-bootstrap/kind-node:v1.36.4'
    await kindProvider.ensureCluster(ctx)
    const config = parse(calls.find((call) => call.args[0] === 'create')?.input ?? '')
    expect(config.nodes[0].image).toBe('platform-bootstrap/kind-node:v1.36.4')
    expect(config.networking).toEqual({ disableDefaultCNI: true })
    expect(parse(config.kubeadmConfigPatches[0])).toMatchObject({
      failCgroupV1: false,
      resolvConf: '/kind/pod-resolv.conf',
    })
    const said = sink.lines.join('\n')
    expect(said).toMatch(/cgroup v1: the kubelet is configured with failCgroupV1: false/)
    expect(said).toMatch(/brings its own pod network/)
  })

  it('refuses more than one node with a node image whose pod network is single-node, before creating anything', async () => {
    const { ctx, calls } = fakeContext([], {}, { nodeImageLabels: { [NODE_IMAGE_LABELS.cni]: 'static' } })
    ctx.env.cluster.nodes = 2
    const error = await kindProvider.ensureCluster(ctx).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toMatch(/single-node pod network/)
    expect((error as BootstrapError).hint).toMatch(/cluster.nodes: 1/)
    expect(calls.some((call) => call.args[0] === 'create')).toBe(false)
  })

  it('loads the image archives whose images the node lacks, and only those; a second run loads none', async () => {
    const archives = mkdtempSync(join(tmpdir(), 'pb-archives-'))
    dirs.push(archives)
    for (const file of ['argocd.tar', 'busybox.tar']) writeFileSync(join(archives, file), '')
    const host = {
      archives: { 'argocd.tar': ['quay.io/argoproj/argocd:v3.6.1'], 'busybox.tar': ['busybox:1.37.0'] },
      nodeImages: ['docker.io/library/busybox:1.37.0'],
    }
    const { ctx, calls, sink } = fakeContext(['platform-dev'], {}, host)
    ctx.env.images.archives = archives
    await kindProvider.ensureCluster(ctx)
    const loads = calls.filter((call) => call.args[0] === 'load')
    expect(loads.map((call) => call.args)).toEqual([
      ['load', 'image-archive', join(archives, 'argocd.tar'), '--name', 'platform-dev'],
    ])
    expect(sink.lines.join('\n')).toMatch(/1 loaded, 1 already in the nodes/)

    const again = fakeContext(
      ['platform-dev'],
      {},
      {
        ...host,
        nodeImages: ['quay.io/argoproj/argocd:v3.6.1', 'docker.io/library/busybox:1.37.0'],
      },
    )
    again.ctx.env.images.archives = archives
    await kindProvider.ensureCluster(again.ctx)
    expect(again.calls.some((call) => call.args[0] === 'load')).toBe(false)
  })

  it('on a cluster that exists, reads the images the kubelet reports instead of asking containerd', async () => {
    const archives = mkdtempSync(join(tmpdir(), 'pb-archives-'))
    dirs.push(archives)
    for (const file of ['argocd.tar', 'busybox.tar']) writeFileSync(join(archives, file), '')
    const host = {
      archives: { 'argocd.tar': ['quay.io/argoproj/argocd:v3.6.1'], 'busybox.tar': ['busybox:1.37.0'] },
      reported: [
        ['quay.io/argoproj/argocd@sha256:0a1b', 'quay.io/argoproj/argocd:v3.6.1'],
        ['docker.io/library/busybox@sha256:2c3d', 'docker.io/library/busybox:1.37.0'],
      ],
    }
    const { ctx, calls, sink } = fakeContext(['platform-dev'], {}, host)
    ctx.env.images.archives = archives
    await kindProvider.ensureCluster(ctx)
    expect(calls.filter((call) => call.command === 'docker' && call.args[0] === 'exec')).toEqual([])
    expect(calls.some((call) => call.args[0] === 'load')).toBe(false)
    expect(sink.lines.join('\n')).toMatch(/0 loaded, 2 already in the nodes/)

    // A report of 50 images may be cut short (the kubelet's nodeStatusMaxImages): containerd is asked.
    const full = fakeContext(
      ['platform-dev'],
      {},
      {
        ...host,
        reported: Array.from({ length: 50 }, (_, i) => [`example.org/image-${i}:1`]),
        nodeImages: ['quay.io/argoproj/argocd:v3.6.1', 'docker.io/library/busybox:1.37.0'],
      },
    )
    full.ctx.env.images.archives = archives
    await kindProvider.ensureCluster(full.ctx)
    expect(full.calls.filter((call) => call.command === 'docker' && call.args[0] === 'exec')).toHaveLength(1)
    expect(full.calls.some((call) => call.args[0] === 'load')).toBe(false)
  })

  it('a missing images.archives folder is named, before anything is loaded', async () => {
    const { ctx } = fakeContext(['platform-dev'])
    ctx.env.images.archives = '/nonexistent/archives'
    await expect(kindProvider.ensureCluster(ctx)).rejects.toThrow(
      /images.archives \/nonexistent\/archives does not exist/,
    )
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
    expect(statSync(join(stateDir, 'kubeconfig')).mode & 0o777).toBe(0o600)
  })

  it('asks kind for the kubeconfig again only when the nodes are other containers', async () => {
    const asked = (calls: Call[]) =>
      calls.filter((c) => c.args[0] === 'get' && c.args[1] === 'kubeconfig').length
    const first = fakeContext(['platform-dev'])
    await kindProvider.ensureCluster(first.ctx)
    expect(asked(first.calls)).toBe(1)
    const same = fakeContext(['platform-dev'], {}, {}, first.stateDir)
    await kindProvider.ensureCluster(same.ctx)
    expect(asked(same.calls)).toBe(0)
    // The cluster deleted and made again outside the runbook: new containers, a new kubeconfig.
    const remade = fakeContext(['platform-dev'], {}, { nodeGeneration: 2 }, first.stateDir)
    await kindProvider.ensureCluster(remade.ctx)
    expect(asked(remade.calls)).toBe(1)
    // A cluster this runbook made: kind wrote the kubeconfig for its nodes, nothing to ask.
    const made = fakeContext([])
    await kindProvider.ensureCluster(made.ctx)
    const again = fakeContext(['platform-dev'], {}, {}, made.stateDir)
    await kindProvider.ensureCluster(again.ctx)
    expect(asked(again.calls)).toBe(0)
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
