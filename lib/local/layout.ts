import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'

/**
 * Where the local stack keeps its files inside one environment's state dir. Everything the
 * stack writes lives under one of these names, and `wipe` removes exactly these names: the
 * state dir may hold other things (the run lock), and keys or secret files live elsewhere.
 */
export interface LocalLayout {
  stateDir: string
  /** CA, serving and client certificates, ServiceAccount signing keys (0700). */
  pki: string
  /** `<name>.log`: stdout and stderr of each process. */
  logs: string
  /** `<name>.pid` and `<name>.json` of each process. */
  run: string
  /** Per-component kubeconfigs (0600), one client certificate each. */
  kubeconfigs: string
  /** The admin kubeconfig handed to the runbook (0600). */
  adminKubeconfig: string
  etcdData: string
  kwok: string
  redis: string
  openbao: string
  /**
   * The local stand-in for a kind node's filesystem: `gitops-repos/` (the served checkout, where
   * the node has it) and `pods/<process>/` (each Argo CD process's files where its pod has them:
   * home, /app/config, /tmp, the mounted Secrets and ConfigMaps). Run as root, Argo CD's processes
   * run as uid 999, which cannot pass the owner's 0700 home: the node then lives under /run.
   */
  node: string
}

export function localLayout(stateDir: string): LocalLayout {
  return {
    stateDir,
    pki: join(stateDir, 'pki'),
    logs: join(stateDir, 'logs'),
    run: join(stateDir, 'run'),
    kubeconfigs: join(stateDir, 'kubeconfigs'),
    adminKubeconfig: join(stateDir, 'kubeconfig'),
    etcdData: join(stateDir, 'etcd'),
    kwok: join(stateDir, 'kwok'),
    redis: join(stateDir, 'redis'),
    openbao: join(stateDir, 'openbao'),
    node: nodeDir(stateDir),
  }
}

/** Where a root run keeps each state dir's node: only root can make folders in /run, so no one can plant one. */
export const ROOT_NODES_DIR = '/run/platform-bootstrap'

function nodeDir(stateDir: string): string {
  if (process.getuid?.() !== 0) return join(stateDir, 'node')
  const id = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 16)
  return join(ROOT_NODES_DIR, id)
}

/** Inside the node: the served repositories, and one Argo CD process's filesystem root. */
export const servedReposDir = (layout: LocalLayout) => join(layout.node, 'gitops-repos')
export const podRoot = (layout: LocalLayout, process: string) => join(layout.node, 'pods', process)

/** The entries `stopStack({ wipe: true })` removes: every path above except the state dir itself. */
export function wipeTargets(layout: LocalLayout): string[] {
  const { stateDir: _stateDir, ...paths } = layout
  return Object.values(paths)
}
