import { BootstrapError, ProcessError } from '../core/errors.ts'
import { waitFor } from '../core/wait.ts'
import { contains } from '../kube/apply.ts'
import { describeRef, refOf } from '../kube/client.ts'
import type { Context } from '../runner/context.ts'
import {
  type DeployedRelease,
  deployedRelease,
  type HelmRelease,
  helmLifetimeMs,
  helmUpgrade,
  markRevisionFailed,
  planRelease,
  type ReleasePlan,
  renderRelease,
} from './binary.ts'
import {
  HELM_LOCKED,
  helmOperationsHere,
  isPending,
  judgePending,
  lockTakenMeanwhile,
  pendingElsewhere,
} from './pending.ts'

/**
 * A Helm release the runbook owns, made to match what it would install, and nothing more: read
 * first; equal chart, version and values → `unchanged`, no helm write (no new revision, no wait);
 * different → upgraded, saying what differs (value names, never values); a release someone else
 * made → refused, unless `--force` takes it over. `--dry-run` renders the release against the
 * cluster and reports each object created / configured / unchanged, as the other steps do. A
 * revision left pending by a helm that died is repaired first (settlePending).
 */
export async function ensureRelease(
  ctx: Context,
  release: HelmRelease,
  options: {
    /** Before a first install (no release yet, no --force): throws when what the chart makes is there already. */
    whenAbsent?: () => Promise<void>
    /** helm waits for the release's workloads (default); false when the caller watches them itself. */
    wait?: boolean
    /** The cluster is reachable from this machine only (kind): a pending revision no helm here works on is dead. */
    clusterOnlyHere?: boolean
  } = {},
): Promise<ReleasePlan> {
  const label = `helm release ${release.namespace}/${release.name} (${release.chart.name} ${release.chart.version})`
  let deployed = await deployedRelease(await ctx.kube(), release)
  if (deployed?.ours && isPending(deployed.status)) {
    deployed = await settlePending(ctx, release, deployed, label, options.clusterOnlyHere ?? false)
    if (ctx.flags.dryRun) {
      // helm renders nothing while the revision is pending: what it would do once it is marked failed.
      const plan = planRelease(deployed, release)
      ctx.log.detail(
        `${label}: then ${plan.action === 'install' ? 'would be installed' : plan.action === 'unchanged' ? `unchanged (revision ${plan.revision})` : `would be upgraded from revision ${plan.revision}`}`,
      )
      return plan
    }
  }
  if (!deployed && !ctx.flags.force) await options.whenAbsent?.()
  const plan = planRelease(deployed, release)
  if (plan.action === 'foreign' && !ctx.flags.force)
    throw new BootstrapError(
      `${label}: a release of that name exists (${plan.chart}, revision ${plan.revision}) that platform-bootstrap did not make: not adopting it`,
      {
        hint: `remove it (\`helm uninstall ${release.name} -n ${release.namespace}\`), or run again with --force to let this runbook manage it from now on`,
        exitCode: 2,
      },
    )
  if (ctx.flags.dryRun) {
    await reportRender(ctx, release, plan)
    return plan
  }
  if (plan.action === 'unchanged') {
    ctx.log.detail(
      `${label}: unchanged (revision ${plan.revision}, chart and values as they would be installed)`,
    )
    return plan
  }
  const why =
    plan.action === 'install'
      ? 'installing'
      : plan.action === 'foreign'
        ? `taking over revision ${plan.revision} (--force)`
        : `upgrading revision ${plan.revision}: ${plan.changes.join('; ')}`
  ctx.log.detail(`${label}: ${why}`)
  await helmUpgrade(ctx.run, release, { takeOwnership: ctx.flags.force, wait: options.wait }).catch(
    (error: unknown) => {
      if (error instanceof ProcessError && error.stderr.includes(HELM_LOCKED))
        throw lockTakenMeanwhile(label, release)
      throw error
    },
  )
  ctx.changed?.add(label)
  // Helm numbers each install or upgrade one past the release's latest revision (what planRelease read).
  ctx.log.detail(
    plan.action === 'install'
      ? `${label}: installed revision 1`
      : `${label}: upgraded to revision ${plan.revision + 1}`,
  )
  return plan
}

/** What an install or upgrade would do, object by object, asked of the API server (a forced server-side dry run). */
async function reportRender(ctx: Context, release: HelmRelease, plan: ReleasePlan): Promise<void> {
  const label = `helm release ${release.namespace}/${release.name}`
  ctx.log.detail(
    `${label}: ${
      plan.action === 'install'
        ? 'would be installed'
        : plan.action === 'unchanged'
          ? `unchanged (revision ${plan.revision})`
          : plan.action === 'foreign'
            ? `would be taken over (--force)`
            : `would be upgraded: ${plan.changes.join('; ')}`
    }`,
  )
  const kube = await ctx.kube()
  for (const object of await renderRelease(ctx.run, release)) {
    const existing = await kube.get(refOf(object))
    const result =
      existing && contains(existing, object)
        ? 'unchanged'
        : (await kube.apply(object, { dryRun: true, force: true })).result
    ctx.log.detail(
      `  ${describeRef(refOf(object))}: ${result === 'unchanged' ? result : `would be ${result}`}`,
    )
  }
}

/**
 * The latest revision is pending (pending.ts): waits for a helm of this machine still working on
 * it; marks one whose operation died failed, as helm does with one it sees interrupted, so the
 * upgrade that follows goes from the last deployed revision and applies everything again (a
 * failed latest revision is never `unchanged`); refuses while a helm elsewhere may still hold
 * helm's lock. Returns the release as it stands after. --dry-run writes nothing: it says so.
 */
async function settlePending(
  ctx: Context,
  release: HelmRelease,
  pending: DeployedRelease,
  label: string,
  clusterOnlyHere: boolean,
): Promise<DeployedRelease | undefined> {
  const kube = await ctx.kube()
  let current: DeployedRelease | undefined = pending
  const facts = () => ({
    startedAt: current?.startedAt,
    now: Date.now(),
    lifetimeMs: helmLifetimeMs(release),
    helmHere: helmOperationsHere(release).length,
    clusterOnlyHere,
  })
  if (judgePending(facts()).verdict === 'running-here') {
    ctx.log.detail(
      `${label}: revision ${pending.revision} is ${pending.status}: waiting for the helm on this machine that works on it`,
    )
    current = await waitFor(
      `the helm operation on ${label} to end`,
      async () => {
        if (helmOperationsHere(release).length) return false
        return { release: await deployedRelease(kube, release) }
      },
      { timeoutMs: helmLifetimeMs(release), intervalMs: 1000, hint: '`ps -ef | grep helm` shows it' },
    ).then((read) => read.release)
    if (!current || !isPending(current.status)) return current
  }
  const judged = judgePending(facts())
  if (judged.verdict === 'maybe-running-elsewhere')
    throw pendingElsewhere(label, current.revision, current.status, judged.deadFrom, Date.now())
  if (judged.verdict !== 'dead') return current
  const what = `revision ${current.revision}, left ${current.status} by a helm operation that died (${judged.why})`
  if (ctx.flags.dryRun) {
    ctx.log.detail(
      `${label}: ${what}: would be marked failed, as helm marks an operation it sees interrupted`,
    )
    return { ...current, status: 'failed' }
  }
  await markRevisionFailed(
    kube,
    release.namespace,
    current.record,
    `${current.status} when its helm operation died; marked failed by platform-bootstrap`,
  )
  ctx.changed?.add(`${label}: revision ${current.revision} marked failed`)
  ctx.log.warn(
    `${label}: ${what}: marked failed, as helm marks an operation it sees interrupted (\`helm history ${release.name} -n ${release.namespace}\` keeps it); the upgrade that follows applies the release again`,
  )
  return deployedRelease(kube, release)
}
