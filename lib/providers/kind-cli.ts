import { basename } from 'node:path'
import { stringify } from 'yaml'
import { commandsRunning, flagValue } from '../core/commands-running.ts'
import type { Run } from '../core/exec.ts'

/** The kind binary, typed: create / get / delete a cluster from a generated config, load images into it. */
export interface KindClusterSpec {
  name: string
  /** The node image: the pinned digest, or one built offline (its labels say what it needs, see nodeImageNeeds). */
  image: string
  /** Host folders mounted into every node, e.g. the served checkout for the repo-server. */
  extraMounts?: { hostPath: string; containerPath: string; readOnly?: boolean }[]
  workers?: number
  /** What the host and the node image need of the cluster's configuration. */
  needs?: KindNeeds
}

/** Settings kind's defaults do not cover on every host or node image. */
export interface KindNeeds {
  /**
   * The host runs cgroup v1: the kubelet of Kubernetes ≥ 1.35 refuses it unless its configuration
   * says `failCgroupV1: false` (kind v0.33 itself only warns).
   */
  cgroupV1?: boolean
  /** The node image carries its own pod network (no kindnetd): kind must not install its CNI. */
  ownCni?: boolean
  /** The kubelet's resolv.conf for pods with dnsPolicy Default (CoreDNS's upstream). */
  resolvConf?: string
}

/**
 * Labels of a node image built by `just tools` where kindest/node cannot be pulled (lib/tools/kind-images):
 * they say what that image needs of the kind config, so the provider need not know how it was built.
 */
export const NODE_IMAGE_LABELS = {
  cni: 'platform-bootstrap.kind-node.cni',
  resolvConf: 'platform-bootstrap.kind-node.resolv-conf',
} as const

export function nodeImageNeeds(labels: Record<string, string> | undefined): KindNeeds {
  return {
    ...(labels?.[NODE_IMAGE_LABELS.cni] === 'static' ? { ownCni: true } : {}),
    ...(labels?.[NODE_IMAGE_LABELS.resolvConf] ? { resolvConf: labels[NODE_IMAGE_LABELS.resolvConf] } : {}),
  }
}

export function kindConfig(spec: KindClusterSpec): string {
  const node = (role: 'control-plane' | 'worker') => ({
    role,
    image: spec.image,
    ...(spec.extraMounts?.length ? { extraMounts: spec.extraMounts } : {}),
  })
  const needs = spec.needs ?? {}
  const kubelet = {
    ...(needs.cgroupV1 ? { failCgroupV1: false } : {}),
    ...(needs.resolvConf ? { resolvConf: needs.resolvConf } : {}),
  }
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: spec.name,
    ...(needs.ownCni ? { networking: { disableDefaultCNI: true } } : {}),
    nodes: [node('control-plane'), ...Array.from({ length: spec.workers ?? 0 }, () => node('worker'))],
    ...(Object.keys(kubelet).length
      ? {
          kubeadmConfigPatches: [
            stringify({
              kind: 'KubeletConfiguration',
              apiVersion: 'kubelet.config.k8s.io/v1beta1',
              ...kubelet,
            }),
          ],
        }
      : {}),
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

/**
 * `--config -`: kind reads the config from its stdin (createcluster.go, configOption). Not
 * `/dev/stdin`: a child's stdin under Node and Bun is a socket, and opening /dev/stdin on a socket
 * fails on Linux ("no such device or address").
 */
export async function kindCreate(run: Run, spec: KindClusterSpec, kubeconfig: string): Promise<void> {
  await run(
    'kind',
    ['create', 'cluster', '--name', spec.name, '--config', '-', '--kubeconfig', kubeconfig, '--wait', '180s'],
    { input: kindConfig(spec), hint: HINT, timeoutMs: 600_000 },
  )
}

/**
 * The `kind create cluster` processes on this machine making cluster `name` into `kubeconfig` (the
 * state folder's: only this runbook names it). kind outlives a run killed under it, and goes on
 * making the cluster on its own.
 */
export function kindCreatesRunning(name: string, kubeconfig: string, procRoot = '/proc'): number[] {
  return commandsRunning((argv) => {
    const args = argv.slice(1)
    return (
      basename(argv[0] ?? '') === 'kind' &&
      args[0] === 'create' &&
      args[1] === 'cluster' &&
      flagValue(args, '--name') === name &&
      flagValue(args, '--kubeconfig') === kubeconfig
    )
  }, procRoot)
}

export async function kindKubeconfig(run: Run, name: string): Promise<string> {
  return (await run('kind', ['get', 'kubeconfig', '--name', name], { hint: HINT })).stdout
}

export async function kindDelete(run: Run, name: string): Promise<void> {
  await run('kind', ['delete', 'cluster', '--name', name], { hint: HINT, timeoutMs: 300_000 })
}

/** Loads one `docker save` archive into every node of the cluster. */
export async function kindLoadArchive(run: Run, name: string, archive: string): Promise<void> {
  await run('kind', ['load', 'image-archive', archive, '--name', name], { hint: HINT, timeoutMs: 600_000 })
}

/** The nodes' container names (`docker exec` targets). */
export async function kindNodes(run: Run, name: string): Promise<string[]> {
  const { stdout } = await run('kind', ['get', 'nodes', '--name', name], { hint: HINT })
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
}
