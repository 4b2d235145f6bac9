import type { EnvConfig } from './config.ts'
import type { Run } from './exec.ts'
import type { GitopsSource } from './gitops-source.ts'
import type { Kube } from './kube.ts'
import type { Logger } from './log.ts'
import type { ClusterProvider } from './providers/provider.ts'
import type { ResolvedSecrets } from './vault.ts'

/** Flags a person gives on the command line. */
export interface RunFlags {
  dryRun: boolean
  /** destroy: act on a cluster this tool did not create. */
  force: boolean
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
