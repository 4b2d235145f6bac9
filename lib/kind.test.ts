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
    // The node image runs the same Kubernetes as the local tier.
    expect(versions.kindNodeImage).toBe(`kindest/node:${versions.kubernetes}`)
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
