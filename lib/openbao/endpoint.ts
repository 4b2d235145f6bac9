import { deploysOpenBao } from '../kube/manifests.ts'
import type { Context } from '../runner/context.ts'

/**
 * An OpenBao the runbook can talk to for as long as it needs; close() ends any port-forward.
 * Each provider makes one its own way (a port-forward to the pod, or the local process); setup,
 * backup and restore use it. It lives here, below the providers, because the provider contract
 * names it and the providers take the context: in one of them, it would close a circle.
 */
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
  /** Where this OpenBao keeps its data, where the provider can tell and start it over. */
  storage?: OpenBaoStorage
  close(): Promise<void>
}

/**
 * OpenBao's storage, for the one case that needs it: a run killed after asking OpenBao to
 * initialise and before saving the answer leaves an OpenBao no one has a token for.
 */
export interface OpenBaoStorage {
  /** Names this storage and no other (local: the data folder's inode; a pod: its PVC's uid). */
  id(): Promise<string | undefined>
  /** Throws the storage away and starts OpenBao on a new, empty one: it answers uninitialised. */
  reset(): Promise<void>
}

/**
 * Whether the environment has an OpenBao to set up, back up or restore: the local stack always
 * runs one; on a cluster, one is given by address or deployed by an Application the environment
 * includes. Without one, setup, backup and destroy's snapshot have nothing to do.
 */
export function openbaoDeployed(ctx: Pick<Context, 'env' | 'provider'>): boolean {
  return ctx.provider.name === 'local' || !!ctx.env.openbao.address || deploysOpenBao(ctx.env)
}

export function noOpenBaoLine(ctx: Pick<Context, 'env'>): string {
  return `no OpenBao in environment ${ctx.env.name} (its gitops.include deploys no openbao chart, and openbao.address is unset): nothing to do`
}
