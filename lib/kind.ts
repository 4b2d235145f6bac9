import { stringify } from 'yaml'
import type { Run } from './exec.ts'
import { versions } from './versions.ts'

/** The kind binary, typed: create / get / delete a cluster from a generated config. */
export interface KindClusterSpec {
  name: string
  /** Host folders mounted into every node, e.g. the served checkout for the repo-server. */
  extraMounts?: { hostPath: string; containerPath: string; readOnly?: boolean }[]
  workers?: number
}

export function kindConfig(spec: KindClusterSpec): string {
  const node = (role: 'control-plane' | 'worker') => ({
    role,
    image: versions.kindNodeImage,
    ...(spec.extraMounts?.length ? { extraMounts: spec.extraMounts } : {}),
  })
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: spec.name,
    nodes: [node('control-plane'), ...Array.from({ length: spec.workers ?? 0 }, () => node('worker'))],
  })
}

const HINT = 'is kind installed and Docker running? `just doctor` checks both'

export async function kindClusters(run: Run): Promise<string[]> {
  const { stdout } = await run('kind', ['get', 'clusters'], { hint: HINT })
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('No kind clusters'))
}

export async function kindCreate(run: Run, spec: KindClusterSpec, kubeconfig: string): Promise<void> {
  await run(
    'kind',
    [
      'create',
      'cluster',
      '--name',
      spec.name,
      '--config',
      '/dev/stdin',
      '--kubeconfig',
      kubeconfig,
      '--wait',
      '180s',
    ],
    {
      input: kindConfig(spec),
      hint: HINT,
      timeoutMs: 600_000,
    },
  )
}

export async function kindKubeconfig(run: Run, name: string): Promise<string> {
  return (await run('kind', ['get', 'kubeconfig', '--name', name], { hint: HINT })).stdout
}

export async function kindDelete(run: Run, name: string): Promise<void> {
  await run('kind', ['delete', 'cluster', '--name', name], { hint: HINT, timeoutMs: 300_000 })
}
