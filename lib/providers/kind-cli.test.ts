import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { fakeProc } from '../../tests/helpers/fake-proc.ts'
import type { Run, RunOptions } from '../core/exec.ts'
import { versions } from '../core/versions.ts'
import {
  kindClusters,
  kindConfig,
  kindCreate,
  kindCreatesRunning,
  NODE_IMAGE_LABELS,
  nodeImageNeeds,
} from './kind-cli.ts'

describe('kindConfig', () => {
  it('makes one control-plane node with the pinned node image', () => {
    const config = parse(kindConfig({ name: 'platform-dev', image: versions.kindNodeImage }))
    expect(config).toEqual({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      name: 'platform-dev',
      nodes: [{ role: 'control-plane', image: versions.kindNodeImage }],
    })
  })

  it('pins the node image by digest, at the one Kubernetes version every tier runs', () => {
    // kind's release notes list each node image with its digest and say the digest must be used:
    // a tag alone can name an image built for another kind release.
    const pinned = /^kindest\/node:(v\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}$/.exec(versions.kindNodeImage)
    expect(pinned, `${versions.kindNodeImage} is not kindest/node:<version>@sha256:<digest>`).not.toBeNull()
    expect(pinned?.[1]).toBe(versions.kubernetes)
  })

  it('names the node image kind v0.33.0 lists for Kubernetes v1.36.4 (recorded from its release notes)', () => {
    expect(versions.kind).toBe('v0.33.0')
    expect(versions.kindNodeImage).toBe(
      'kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed',
    )
  })

  it('adds workers and mounts the host folders into every node', () => {
    const extraMounts = [{ hostPath: '/state/dev/repos', containerPath: '/gitops-repos', readOnly: true }]
    const config = parse(
      kindConfig({ name: 'platform-dev', image: versions.kindNodeImage, workers: 2, extraMounts }),
    )
    expect(config.nodes).toEqual([
      { role: 'control-plane', image: versions.kindNodeImage, extraMounts },
      { role: 'worker', image: versions.kindNodeImage, extraMounts },
      { role: 'worker', image: versions.kindNodeImage, extraMounts },
    ])
  })

  it('leaves extraMounts out when there are none', () => {
    const config = parse(
      kindConfig({ name: 'x', image: versions.kindNodeImage, workers: 1, extraMounts: [] }),
    )
    expect(config.nodes).toEqual([
      { role: 'control-plane', image: versions.kindNodeImage },
      { role: 'worker', image: versions.kindNodeImage },
    ])
  })
})

describe('what the host and node image need of the config', () => {
  it('a cgroup v1 host: the kubelet is told failCgroupV1: false (Kubernetes ≥ 1.35 refuses it otherwise)', () => {
    const config = parse(kindConfig({ name: 'x', image: 'i', needs: { cgroupV1: true } }))
    expect(config.networking).toBeUndefined()
    expect(config.kubeadmConfigPatches).toHaveLength(1)
    expect(parse(config.kubeadmConfigPatches[0])).toEqual({
      kind: 'KubeletConfiguration',
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      failCgroupV1: false,
    })
  })

  it("a node image with its own network and DNS upstream: kind's CNI left out, the kubelet's resolvConf set", () => {
    const needs = nodeImageNeeds({
      [NODE_IMAGE_LABELS.cni]: 'static',
      [NODE_IMAGE_LABELS.resolvConf]: '/kind/pod-resolv.conf',
    })
    expect(needs).toEqual({ ownCni: true, resolvConf: '/kind/pod-resolv.conf' })
    const config = parse(kindConfig({ name: 'x', image: 'i', needs: { ...needs, cgroupV1: true } }))
    expect(config.networking).toEqual({ disableDefaultCNI: true })
    expect(parse(config.kubeadmConfigPatches[0])).toMatchObject({
      failCgroupV1: false,
      resolvConf: '/kind/pod-resolv.conf',
    })
  })

  it('the pinned kindest/node (no labels) needs nothing: no patches, kind networking', () => {
    expect(nodeImageNeeds(undefined)).toEqual({})
    expect(nodeImageNeeds({ 'org.opencontainers.image.source': 'x' })).toEqual({})
    const config = parse(kindConfig({ name: 'x', image: 'i', needs: {} }))
    expect(config.kubeadmConfigPatches).toBeUndefined()
    expect(config.networking).toBeUndefined()
  })
})

describe('kind commands', () => {
  function recorder(stdout = '') {
    const calls: { command: string; args: string[]; options?: RunOptions }[] = []
    const run: Run = async (command, args, options) => {
      calls.push({ command, args, options })
      return { stdout, stderr: '' }
    }
    return { run, calls }
  }

  it('creates the cluster from the generated config on stdin, as `--config -` (kind reads its stdin; /dev/stdin fails on a socket)', async () => {
    const { run, calls } = recorder()
    const spec = { name: 'platform-dev', image: versions.kindNodeImage, workers: 1 }
    await kindCreate(run, spec, '/state/kubeconfig')
    expect(calls).toHaveLength(1)
    const [call] = calls
    expect(call?.command).toBe('kind')
    expect(call?.args.slice(0, 4)).toEqual(['create', 'cluster', '--name', 'platform-dev'])
    expect(call?.args[call.args.indexOf('--config') + 1]).toBe('-')
    expect(call?.args[call.args.indexOf('--kubeconfig') + 1]).toBe('/state/kubeconfig')
    expect(call?.options?.input).toBe(kindConfig(spec))
  })

  it('lists clusters, and none when kind says so', async () => {
    expect(await kindClusters(recorder('platform-dev\nother\n').run)).toEqual(['platform-dev', 'other'])
    expect(await kindClusters(recorder('No kind clusters found.\n').run)).toEqual([])
  })
})

describe('kindCreatesRunning', () => {
  const fake = fakeProc()
  afterAll(() => fake.remove())
  const proc = fake.root
  const process = fake.add
  const kubeconfig = '/home/me/.local/state/platform-bootstrap/dev/kubeconfig'
  const create = ['create', 'cluster', '--name', 'platform-dev', '--config', '-']
  process(20, [
    '/root/.cache/platform-bootstrap/tools/kind/v0.33.0/kind',
    ...create,
    '--kubeconfig',
    kubeconfig,
  ])
  process(21, ['kind', ...create, `--kubeconfig=${kubeconfig}`, '--wait', '180s'])
  // Another environment's state folder, another cluster, another command, another binary.
  process(22, ['kind', ...create, '--kubeconfig', '/tmp/other/kubeconfig'])
  process(23, ['kind', 'create', 'cluster', '--name', 'platform-staging', '--kubeconfig', kubeconfig])
  process(24, ['kind', 'delete', 'cluster', '--name', 'platform-dev', '--kubeconfig', kubeconfig])
  process(25, ['/usr/bin/vim', ...create, '--kubeconfig', kubeconfig])

  it("finds kind creating that cluster into this environment's kubeconfig, nothing else", () => {
    expect(kindCreatesRunning('platform-dev', kubeconfig, proc).sort()).toEqual([20, 21])
    expect(kindCreatesRunning('platform-staging', kubeconfig, proc)).toEqual([23])
    expect(kindCreatesRunning('platform-prod', kubeconfig, proc)).toEqual([])
  })

  it('sees none where there is no /proc to read (macOS)', () => {
    expect(kindCreatesRunning('platform-dev', kubeconfig, join(proc, 'no-such-folder'))).toEqual([])
  })
})
