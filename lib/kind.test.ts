import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { Run, RunOptions } from './exec.ts'
import { kindClusters, kindConfig, kindCreate } from './kind.ts'
import { versions } from './versions.ts'

describe('kindConfig', () => {
  it('makes one control-plane node with the pinned node image', () => {
    const config = parse(kindConfig({ name: 'platform-dev' }))
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
    const config = parse(kindConfig({ name: 'platform-dev', workers: 2, extraMounts }))
    expect(config.nodes).toEqual([
      { role: 'control-plane', image: versions.kindNodeImage, extraMounts },
      { role: 'worker', image: versions.kindNodeImage, extraMounts },
      { role: 'worker', image: versions.kindNodeImage, extraMounts },
    ])
  })

  it('leaves extraMounts out when there are none', () => {
    const config = parse(kindConfig({ name: 'x', workers: 1, extraMounts: [] }))
    expect(config.nodes).toEqual([
      { role: 'control-plane', image: versions.kindNodeImage },
      { role: 'worker', image: versions.kindNodeImage },
    ])
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

  it('creates the cluster from the generated config on stdin', async () => {
    const { run, calls } = recorder()
    await kindCreate(run, { name: 'platform-dev', workers: 1 }, '/state/kubeconfig')
    expect(calls).toHaveLength(1)
    const [call] = calls
    expect(call?.command).toBe('kind')
    expect(call?.args.slice(0, 4)).toEqual(['create', 'cluster', '--name', 'platform-dev'])
    expect(call?.args[call.args.indexOf('--config') + 1]).toBe('/dev/stdin')
    expect(call?.args[call.args.indexOf('--kubeconfig') + 1]).toBe('/state/kubeconfig')
    expect(call?.options?.input).toBe(kindConfig({ name: 'platform-dev', workers: 1 }))
  })

  it('lists clusters, and none when kind says so', async () => {
    expect(await kindClusters(recorder('platform-dev\nother\n').run)).toEqual(['platform-dev', 'other'])
    expect(await kindClusters(recorder('No kind clusters found.\n').run)).toEqual([])
  })
})
