import { BootstrapError } from '../errors.ts'
import type { OpenBaoEndpoint } from '../providers/provider.ts'
import { ensurePolicy, ensureRole } from './access.ts'
import { nodeVaultCall } from './client.ts'
import {
  assumeFresh,
  authenticate,
  ensureUnsealed,
  initialise,
  restoreInto,
  restorePending,
  resumeRestore,
  waitForAnswer,
} from './init.ts'
import { INIT_KEYS, sopsInitStore } from './init-store.ts'
import { ensureKubernetesAuth, ensureKvV2 } from './mounts.ts'
import { appPolicy, IN_CLUSTER_HOST, type KubernetesTarget, RESERVED_POLICY_NAMES } from './policy.ts'
import type { SetupReport } from './report.ts'
import { Run, type SetupDeps, type SetupOptions } from './run.ts'
import { ensureSecrets, randomSecret } from './secrets.ts'

/**
 * `openbao-setup` (runtime tier): initialise OpenBao, keep an admin token instead of
 * the root token, KV v2 at secret/, kubernetes auth, a read-only policy and a role per app,
 * and each app's initial secrets. Every part reads first and writes only what is missing or
 * different, so a second run sends no write at all. Existing secret values are never
 * overwritten (some can never change); only `--rotate <app>/<field>` replaces one.
 *
 * What OpenBao cannot keep across a destroy of a kind cluster lives in the init file,
 * SOPS-encrypted: the recovery keys, the admin token, and every value setup generated, so a
 * recreated OpenBao gets the same values again.
 */
export async function setupOpenBao(options: SetupOptions, deps: SetupDeps): Promise<SetupReport> {
  for (const app of options.apps) {
    if ((RESERVED_POLICY_NAMES as readonly string[]).includes(app.name)) {
      throw new BootstrapError(
        `openbao.apps: an app may not be named "${app.name}": that policy name is OpenBao's or setup's own`,
        { exitCode: 2 },
      )
    }
  }
  const run = new Run(options, deps)
  const status = await waitForAnswer(run)
  await run.loadInitFile()
  if (!status.initialized) {
    const restore = await options.snapshot?.()
    if (options.dryRun) await assumeFresh(run, restore)
    else if (restore) await restoreInto(run, status, restore.snapshot, restore.file)
    else await initialise(run, status)
    if (restore && !options.dryRun) await authenticate(run)
  } else {
    await ensureUnsealed(run, status)
    const restore = run.file[INIT_KEYS.restoringFrom] ? await options.snapshot?.() : undefined
    if (restore && restorePending(run, restore.snapshot) && !options.dryRun)
      await resumeRestore(run, restore.snapshot, restore.file)
    await authenticate(run)
  }
  await ensureKvV2(run)
  await ensureKubernetesAuth(run)
  for (const app of options.apps) {
    await ensurePolicy(run, app.name, appPolicy(app), `policy ${app.name}`)
    await ensureRole(run, app)
  }
  await ensureSecrets(run)
  return run.report
}

export function defaultSetupDeps(options: {
  address: string
  initFile: string
  recipientsFrom: string
  onEntry: (line: string) => void
}): SetupDeps {
  return {
    call: nodeVaultCall(options.address),
    initStore: sopsInitStore(options.initFile, options.recipientsFrom),
    randomSecret,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    onEntry: options.onEntry,
  }
}

/** What the endpoint says about the cluster, with the in-cluster defaults. */
export function kubernetesTargetOf(endpoint: OpenBaoEndpoint): KubernetesTarget {
  return { host: endpoint.kubernetesHost ?? IN_CLUSTER_HOST, caCert: endpoint.kubernetesCaCert }
}
