import { BootstrapError } from '../../core/errors.ts'
import { systemClock } from '../../core/wait.ts'
import { applyAll } from '../../kube/apply.ts'
import { sayWhetherToCommit } from '../../runner/commit-note.ts'
import { envPath } from '../../runner/config.ts'
import type { Context } from '../../runner/context.ts'
import { loadSnapshot } from '../backup.ts'
import { nodeVaultCall } from '../client.ts'
import type { OpenBaoEndpoint } from '../endpoint.ts'
import { INIT_KEYS, sopsInitStore } from '../init-store.ts'
import { ensurePolicy, ensureRole } from './access.ts'
import { authenticate } from './admin-token.ts'
import { assumeFresh, ensureUnsealed, initialise, type SealStatus, waitForAnswer } from './init.ts'
import { interruptedInit } from './interrupted-init.ts'
import { ensureKubernetesAuth, ensureKvV2 } from './mounts.ts'
import {
  appPolicy,
  authDelegatorBinding,
  IN_CLUSTER_HOST,
  isExternal,
  type KubernetesTarget,
  RESERVED_POLICY_NAMES,
} from './policy.ts'
import { type SetupReport, summaryLines } from './report.ts'
import { restoreInto, restorePending, resumeRestore } from './restore-into-new.ts'
import { ensureSecrets, parseRotations, randomSecret } from './secrets.ts'
import { OpenBaoSession, type SetupDeps, type SetupOptions } from './session.ts'

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

/**
 * The openbao-setup step for the context's environment (step 09, and restore after it): reach
 * its OpenBao through the provider, set it up with the real dependencies, bind each app's
 * ServiceAccount to system:auth-delegator when OpenBao is outside the cluster, print the tally.
 * The report is returned and the dependencies adjustable (tests count the writes).
 */
export async function openbaoSetup(
  ctx: Context,
  adjust: (deps: SetupDeps) => SetupDeps = (deps) => deps,
): Promise<SetupReport> {
  const { openbao, secrets } = ctx.env
  const rotate = parseRotations(ctx.flags.rotate, openbao.apps)
  const endpoint = await ctx.provider.openbao(ctx)
  try {
    const kubernetes = kubernetesTargetOf(endpoint)
    const deps = defaultSetupDeps({
      address: endpoint.address,
      initFile: envPath(ctx.env, openbao.initFile),
      recipientsFrom: envPath(ctx.env, secrets.sopsFile),
      onEntry: (line) => ctx.log.detail(line),
    })
    const report = await reconcileOpenBao(
      {
        address: endpoint.address,
        kubernetes,
        initFile: openbao.initFile,
        apps: openbao.apps,
        rotate,
        dryRun: ctx.flags.dryRun,
        bootstrapValues: async () => (await ctx.secrets()).values,
        snapshot: async () => {
          const snapshot = await loadSnapshot(ctx)
          return snapshot && { snapshot, file: openbao.snapshotFile }
        },
        storage: endpoint.storage,
      },
      adjust(deps),
    )
    if (isExternal(kubernetes)) await applyAll(ctx, openbao.apps.map(authDelegatorBinding))
    for (const line of summaryLines(report)) ctx.log.detail(line)
    if (report.initFileWrites) await sayWhetherToCommit(ctx, ctx.env.openbao.initFile)
    return report
  } finally {
    await endpoint.close()
  }
}

/** One run of setup on what it is given: no context, every dependency injected. */
export async function reconcileOpenBao(options: SetupOptions, deps: SetupDeps): Promise<SetupReport> {
  for (const app of options.apps) {
    if ((RESERVED_POLICY_NAMES as readonly string[]).includes(app.name)) {
      throw new BootstrapError(
        `openbao.apps: an app may not be named "${app.name}": that policy name is OpenBao's or setup's own`,
        { exitCode: 2 },
      )
    }
  }
  const session = new OpenBaoSession(options, deps)
  // sops decrypts the init file while OpenBao is asked how it is; an unreachable OpenBao is still
  // the error reported first, as if one had been waited for before the other.
  const [answer, loaded] = await Promise.allSettled([waitForAnswer(session), session.initValues.load()])
  if (answer.status === 'rejected') throw answer.reason
  if (loaded.status === 'rejected') throw loaded.reason
  let status = answer.value
  if (status.initialized && (await interruptedInit(session.initValues, options.storage)))
    status = await startOver(session, status)
  if (!status.initialized) {
    const restore = await options.snapshot?.()
    if (options.dryRun) await assumeFresh(session, restore)
    else if (restore) await restoreInto(session, status, restore.snapshot, restore.file)
    else await initialise(session, status)
    if (restore && !options.dryRun) await authenticate(session)
  } else {
    await ensureUnsealed(session, status)
    const restore = session.initValues.get(INIT_KEYS.restoringFrom) ? await options.snapshot?.() : undefined
    if (restore && restorePending(session, restore.snapshot) && !options.dryRun)
      await resumeRestore(session, restore.snapshot, restore.file)
    await authenticate(session)
  }
  await ensureKvV2(session.bao, session)
  await ensureKubernetesAuth(session.bao, session, options.kubernetes)
  for (const app of options.apps) {
    await ensurePolicy(session.bao, session, app.name, appPolicy(app), `policy ${app.name}`)
    await ensureRole(session.bao, session, app)
  }
  await ensureSecrets(session)
  return session.report()
}

/** A new, empty storage and OpenBao on it, answering uninitialised (a dry run only says so). */
export async function startOver(session: OpenBaoSession, status: SealStatus): Promise<SealStatus> {
  const why = `initialised by a run that stopped before saving the answer in ${session.options.initFile} (the file still marks its storage as being initialised); no one ever had its token, so nothing can be in it`
  if (session.options.dryRun) {
    session.deps.onEntry(`OpenBao: ${why}: its storage would be made anew and OpenBao initialised again`)
    return { ...status, initialized: false, sealed: true }
  }
  session.deps.onEntry(`OpenBao: ${why}: its storage is made anew and OpenBao initialised again`)
  await session.options.storage?.reset()
  const fresh = await waitForAnswer(session)
  if (fresh.initialized)
    throw new BootstrapError(
      `OpenBao at ${session.options.address} still answers initialised after its storage was made anew`,
      {
        hint: 'its storage did not change: check where it keeps its data (local: the openbao folder in the state folder; a pod: its PersistentVolumeClaim)',
      },
    )
  return fresh
}

function defaultSetupDeps(options: {
  address: string
  initFile: string
  recipientsFrom: string
  onEntry: (line: string) => void
}): SetupDeps {
  return {
    call: nodeVaultCall(options.address),
    initStore: sopsInitStore(options.initFile, options.recipientsFrom),
    randomSecret,
    ...systemClock,
    onEntry: options.onEntry,
  }
}

/** What the endpoint says about the cluster, with the in-cluster defaults. */
function kubernetesTargetOf(endpoint: OpenBaoEndpoint): KubernetesTarget {
  return { host: endpoint.kubernetesHost ?? IN_CLUSTER_HOST, caCert: endpoint.kubernetesCaCert }
}
