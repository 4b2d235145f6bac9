import type { GitopsSource } from '../argocd/gitops-source.ts'
import type { ResolvedSecrets } from '../bootstrap-secrets/resolve.ts'
import type { Run } from '../core/exec.ts'
import type { ClusterAccess, KObject, Kube } from '../kube/client.ts'
import type { OpenBaoEndpoint } from '../openbao/endpoint.ts'
import type { EnvConfig } from './config.ts'
import type { Logger } from './log.ts'

/** Flags a person gives on the command line. */
export interface RunFlags {
  dryRun: boolean
  /** destroy: act on a cluster this tool did not create (existing: remove what create made on it). */
  force: boolean
  /** destroy: go on without an OpenBao snapshot when none can be taken; what is in OpenBao is lost. */
  noSnapshot?: boolean
  /** openbao-setup: `<app>/<field>` values to replace. */
  rotate: string[]
}

/** What a step is given: the environment, the provider, injected dependencies and lazily made clients. */
export interface Context {
  env: EnvConfig
  flags: RunFlags
  log: Logger
  run: Run
  provider: ClusterProvider
  /** Bootstrap secrets, resolved once per run (Vault first, SOPS fallback). */
  secrets(): Promise<ResolvedSecrets>
  /** A client for the environment's cluster, made once per run. */
  kube(): Promise<Kube>
  /** The repositories Argo CD pulls from, the checkout published to them first where served: once per run. */
  source(): Promise<GitopsSource>
  /** The environment's state folder (lock, local cluster, snapshots). */
  stateDir: string
  /**
   * What this run has changed on the cluster so far (an applied object, a Helm revision): once
   * anything has, step 08 counts only Application statuses Argo CD computed after it.
   */
  changed?: Set<string>
  /** The requests this run's Kubernetes client has sent so far; undefined when it made none. */
  apiRequests?(): { reads: number; writes: number } | undefined
}

/**
 * Everything that differs between kind, an existing cluster and the local stack of processes
 * (lib/providers/: one module each). The steps call these and nothing else provider-specific, so
 * a difference lives in one module. Here beside Context because each holds the other: in two
 * files they would import each other.
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
  /**
   * Step 06's objects where the runbook applies them itself, before installArgoCD (local: argocd-cm,
   * argocd-secret, the repo-server's git config); absent where the Helm chart carries them.
   */
  argocdObjects?(ctx: Context): Promise<KObject[]>
  /**
   * When the Argo CD application controller now running started (the latest of its replicas);
   * undefined when none runs. A restarted controller compares again only the Applications it last
   * compared longer ago than its reconciliation timeout: step 08 asks for the others.
   */
  argocdControllerStartedAt(ctx: Context): Promise<Date | undefined>
  /** Step 09: reach OpenBao. */
  openbao(ctx: Context): Promise<OpenBaoEndpoint>
  /** Printed after a successful create: how to reach Argo CD and look at the apps (commands, never a secret). */
  accessHints(ctx: Context): string[]
  /** Whether the environment has a cluster for destroy to act on (one this tool may not have made). */
  hasCluster(ctx: Context): Promise<boolean>
  /** Tear the cluster down; never keys or secrets files. */
  destroy(ctx: Context): Promise<void>
  /** Before destroy touches anything (its snapshot included): throws when it would refuse. */
  refuseDestroy?(ctx: Context): Promise<void>
}

export function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined
  return () => {
    promise ??= make().catch((error) => {
      promise = undefined
      throw error
    })
    return promise
  }
}
