import { BootstrapError } from '../core/errors.ts'
import { contains } from '../kube/apply.ts'
import { describeRef, refOf } from '../kube/client.ts'
import type { Context } from '../runner/context.ts'
import {
  deployedRelease,
  type HelmRelease,
  helmUpgrade,
  planRelease,
  type ReleasePlan,
  renderRelease,
} from './binary.ts'

/**
 * A Helm release the runbook owns, made to match what it would install, and nothing more: read
 * first; equal chart, version and values → `unchanged`, no helm write (no new revision, no wait);
 * different → upgraded, saying what differs (value names, never values); a release someone else
 * made → refused, unless `--force` takes it over. `--dry-run` renders the release against the
 * cluster and reports each object created / configured / unchanged, as the other steps do.
 */
export async function ensureRelease(
  ctx: Context,
  release: HelmRelease,
  options: {
    /** Before a first install (no release yet, no --force): throws when what the chart makes is there already. */
    whenAbsent?: () => Promise<void>
    /** helm waits for the release's workloads (default); false when the caller watches them itself. */
    wait?: boolean
  } = {},
): Promise<ReleasePlan> {
  const label = `helm release ${release.namespace}/${release.name} (${release.chart.name} ${release.chart.version})`
  const deployed = await deployedRelease(await ctx.kube(), release)
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
  await helmUpgrade(ctx.run, release, { takeOwnership: ctx.flags.force, wait: options.wait })
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
