import type { Context } from '../context.ts'
import type { GitopsSource } from '../gitops-source.ts'

/** Where the runbook reaches the cluster: a kubeconfig file and the context in it. */
export interface ClusterAccess {
  kubeconfig: string
  context?: string
}

/** An OpenBao the runbook can talk to for as long as it needs; close() ends any port-forward. */
export interface OpenBaoEndpoint {
  address: string
  /**
   * What OpenBao's kubernetes auth method reviews logins against. Unset: https://kubernetes.default.svc
   * (OpenBao in a pod, with the pod's own token and CA). Set to another URL (local provider: the
   * local apiserver), OpenBao is outside the cluster: setup then binds each app's ServiceAccount
   * to system:auth-delegator, since OpenBao has no reviewer token of its own.
   */
  kubernetesHost?: string
  /** PEM of the CA that signed kubernetesHost's serving certificate; unset in a pod. */
  kubernetesCaCert?: string
  close(): Promise<void>
}

/**
 * Everything that differs between kind, an existing cluster and the local stack of processes.
 * The steps call these and nothing else provider-specific, so a difference lives in one module.
 */
export interface ClusterProvider {
  readonly name: 'kind' | 'existing' | 'local'
  /** Step 00: create or adopt the cluster, wait until the API answers and nodes are Ready. */
  ensureCluster(ctx: Context): Promise<void>
  /** How later steps reach the cluster (no side effects). */
  access(ctx: Context): ClusterAccess
  /** The repository URLs Argo CD pulls from, serving this checkout first where the environment says so. */
  gitopsSource(ctx: Context): Promise<GitopsSource>
  /** Step 06: Argo CD with KSOPS in the repo-server, ready to sync. */
  installArgoCD(ctx: Context): Promise<void>
  /** Step 09: reach OpenBao. */
  openbao(ctx: Context): Promise<OpenBaoEndpoint>
  /** Printed after a successful create: how to reach Argo CD and look at the apps (commands, never a secret). */
  accessHints(ctx: Context): string[]
  /** Whether the environment has a cluster for destroy to act on (one this tool may not have made). */
  hasCluster(ctx: Context): Promise<boolean>
  /** Tear the cluster down; never keys or secrets files. */
  destroy(ctx: Context): Promise<void>
}
