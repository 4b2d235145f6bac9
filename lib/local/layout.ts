import { join } from 'node:path'

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
  argocd: string
  redis: string
  openbao: string
  /** `$KUSTOMIZE_PLUGIN_HOME` for the local repo-server: holds viaduct.ai/v1/ksops/ksops. */
  ksopsPluginHome: string
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
    argocd: join(stateDir, 'argocd'),
    redis: join(stateDir, 'redis'),
    openbao: join(stateDir, 'openbao'),
    ksopsPluginHome: join(stateDir, 'ksops-plugin'),
  }
}

/** The entries `stopStack({ wipe: true })` removes: every path above except the state dir itself. */
export function wipeTargets(layout: LocalLayout): string[] {
  const { stateDir: _stateDir, ...paths } = layout
  return Object.values(paths)
}
