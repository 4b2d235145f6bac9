import { Unchanged } from '../argocd/app-errors.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { statusCode } from '../core/request-failure.ts'
import { waitFor } from '../core/wait.ts'
import { helmUninstall } from '../helm/binary.ts'
import type { ClusterAccess, KObject, Kube } from '../kube/client.ts'
import { readCrdFile } from '../kube/crd-file.ts'
import { isManagedByUs, MANAGED_BY_SELECTOR } from '../kube/manifests.ts'
import type { Context } from '../runner/context.ts'
import { argocdCrdFiles } from '../tools/artifacts.ts'
import { ARGOCD_RELEASE } from './helm-argocd.ts'

/**
 * `destroy --force` on a cluster someone else made: everything create made there, and everything
 * Argo CD deployed from it, goes — in the order that lets each owner clean up after itself:
 *
 *  1. the root App of Apps, deleted with cascade while Argo CD still runs: Argo CD deletes its
 *     Applications wave by wave, each with the objects it deployed (their resources finalizer);
 *  2. Argo CD's Helm release, and the two Secrets Argo CD makes beside it at install;
 *  3. the namespaces create made (labelled managed-by platform-bootstrap), waited for;
 *  4. the bootstrap Secrets create put into namespaces it did not make;
 *  5. Argo CD's CRDs, only when this runbook installed them and no object of theirs is left
 *     anywhere on the cluster (deleting a CRD deletes every object of its kind).
 *
 * A namespace that was there before create, and everything not made by create or its
 * Applications, stays. Each removal is said, and so is each thing kept.
 */
export async function removeCreated(ctx: Context, access: ClusterAccess): Promise<void> {
  const kube = await ctx.kube()
  const namespace = ctx.env.argocd.namespace
  const dry = ctx.flags.dryRun
  const said = (what: string) => ctx.log.detail(dry ? `would remove ${what}` : `removed ${what}`)

  const apps = await kube.list(APP.apiVersion, APP.kind, namespace).catch(absentKind)
  const { ours, foreign } = rootsApplications(apps)
  if (foreign.length)
    throw new BootstrapError(
      `Applications in ${namespace} that the root App of Apps did not make: ${foreign.join(', ')}; removing Argo CD would strand them`,
      {
        hint: `delete them (or move them to another Argo CD) first, then run \`just destroy ${ctx.env.name} --force\` again; nothing was removed`,
        exitCode: 2,
      },
    )
  if (ours.length) {
    if (!dry) await deleteRootCascading(ctx, kube, ours)
    said(`Applications ${ours.join(', ')} and every object they deployed`)
  }

  if (!dry) {
    await helmUninstall(ctx.run, {
      name: ARGOCD_RELEASE,
      namespace,
      kubeconfig: access.kubeconfig,
      context: access.context,
    })
    for (const name of ARGOCD_RUNTIME_SECRETS)
      await kube.delete({ apiVersion: 'v1', kind: 'Secret', name, namespace })
  }
  said(`Argo CD's Helm release ${ARGOCD_RELEASE} (${namespace})`)

  const present = await kube.list('v1', 'Namespace')
  const { made, kept } = namespacesMade(ctx.env.namespaces, present)
  if (made.length) {
    if (!dry) await deleteNamespaces(ctx, kube, made)
    said(`namespaces ${made.join(', ')}`)
  }
  for (const ns of kept) {
    for (const secret of await kube.list('v1', 'Secret', ns, MANAGED_BY_SELECTOR)) {
      if (!dry)
        await kube.delete({ apiVersion: 'v1', kind: 'Secret', name: secret.metadata.name, namespace: ns })
      said(`Secret/${ns}/${secret.metadata.name}`)
    }
    ctx.log.detail(`kept namespace ${ns}: it was there before create`)
  }

  await removeCrds(ctx, kube, said)
  ctx.log.detail('kept: the cluster, and everything on it that create and its Applications did not make')
}

const APP = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' }
const RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io'
/** Made by Argo CD's server and the chart's install hook, outside the release: Helm leaves them. */
const ARGOCD_RUNTIME_SECRETS = ['argocd-initial-admin-secret', 'argocd-redis']

/**
 * The root App of Apps and the Applications it made (Argo CD's tracking annotation, or its
 * instance label, names root), apart from any other Application in the namespace.
 */
export function rootsApplications(apps: KObject[]): { ours: string[]; foreign: string[] } {
  const ours: string[] = []
  const foreign: string[] = []
  for (const app of apps) {
    const name = app.metadata.name
    const meta = app.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> }
    const byRoot =
      meta.annotations?.['argocd.argoproj.io/tracking-id']?.startsWith('root:') ||
      meta.labels?.['app.kubernetes.io/instance'] === 'root'
    const isRoot = name === 'root' && isManagedByUs(app)
    ;(isRoot || byRoot ? ours : foreign).push(name)
  }
  return { ours, foreign }
}

/** Of the environment's namespaces, the ones create made (its label), and the ones it found there. */
export function namespacesMade(wanted: string[], present: KObject[]): { made: string[]; kept: string[] } {
  const byName = new Map(present.map((ns) => [ns.metadata.name, ns]))
  const made: string[] = []
  const kept: string[] = []
  for (const name of wanted) {
    const ns = byName.get(name)
    if (ns) (isManagedByUs(ns) ? made : kept).push(name)
  }
  return { made, kept }
}

/**
 * The root gets Argo CD's resources finalizer and is deleted: Argo CD then deletes its
 * Applications in reverse sync-wave order, each with what it deployed, and lets the root go last.
 */
export async function deleteRootCascading(ctx: Context, kube: Kube, apps: string[]): Promise<void> {
  const namespace = ctx.env.argocd.namespace
  const root = { ...APP, name: 'root', namespace }
  const current = await kube.get(root)
  if (current) {
    const finalizers = (current.metadata as { finalizers?: string[] }).finalizers ?? []
    if (!finalizers.includes(RESOURCES_FINALIZER))
      await kube.mergePatch(root, { metadata: { finalizers: [...finalizers, RESOURCES_FINALIZER] } })
    await kube.delete(root)
  } else {
    // The root is gone already (deleted without cascade): nothing would delete what it made, so
    // each is deleted here; their own resources finalizers make Argo CD take what they deployed.
    for (const name of apps) await kube.delete({ ...APP, name, namespace })
  }
  let left: KObject[] = []
  // Argo CD reports a race it will retry (an object already gone) as a DeletionError too: only one
  // that stays the same for the window stops the destroy.
  const unchanged = new Unchanged()
  let lastSaid = ''
  await waitFor(
    `Argo CD to delete the Applications ${apps.join(', ')} and what they deployed`,
    async () => {
      left = (await kube.list(APP.apiVersion, APP.kind, namespace)).filter((app) =>
        apps.includes(app.metadata.name),
      )
      const stuck = left.flatMap((app) => {
        const message = deletionError(app)
        const held = unchanged.heldFor(app.metadata.name, message, Date.now())
        return held !== undefined && held >= DELETION_ERROR_WINDOW_MS
          ? [`Application ${app.metadata.name}: ${message}`]
          : []
      })
      if (stuck.length)
        throw new BootstrapError(`Argo CD cannot delete ${stuck.join('; ')}`, {
          hint: `fix what the message names (\`kubectl -n ${namespace} get application <name> -o yaml\`), then run destroy again; Argo CD still runs, nothing else was removed`,
        })
      const names = left.map((app) => app.metadata.name).join(', ')
      if (names && names !== lastSaid) ctx.log.detail(`Argo CD is deleting: ${names}`)
      lastSaid = names
      return left.length === 0
    },
    {
      timeoutMs: ctx.env.converge.timeoutSeconds * 1000,
      intervalMs: 2000,
      describeLast: () => `left: ${left.map((app) => app.metadata.name).join(', ')}`,
      hint: `\`kubectl -n ${namespace} get applications\` and each one's status.conditions say what holds it; Argo CD still runs, nothing else was removed`,
    },
  )
}

const DELETION_ERROR_WINDOW_MS = 30_000

function deletionError(app: KObject): string | undefined {
  const conditions = (app.status as { conditions?: { type?: string; message?: string }[] } | undefined)
    ?.conditions
  return conditions?.find((c) => c.type === 'DeletionError')?.message
}

async function deleteNamespaces(ctx: Context, kube: Kube, names: string[]): Promise<void> {
  for (const name of names) await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name })
  let left: KObject[] = []
  await waitFor(
    `namespaces ${names.join(', ')} to be gone`,
    async () => {
      left = (await kube.list('v1', 'Namespace')).filter((ns) => names.includes(ns.metadata.name))
      return left.length === 0
    },
    {
      timeoutMs: ctx.env.argocd.timeoutSeconds * 1000,
      intervalMs: 1000,
      describeLast: () =>
        left
          .map((ns) => {
            const conditions =
              (ns.status as { conditions?: { status?: string; message?: string }[] } | undefined)
                ?.conditions ?? []
            const holding = conditions.filter((c) => c.status === 'True').map((c) => c.message)
            return `${ns.metadata.name}${holding.length ? ` (${holding.join('; ')})` : ''}`
          })
          .join(', '),
      hint: '`kubectl get namespace <name> -o yaml`: its status.conditions name what is left in it and which finalizer holds it',
    },
  )
}

/** Argo CD's CRDs, when this runbook labelled them as its own and no object of theirs is left. */
async function removeCrds(ctx: Context, kube: Kube, said: (what: string) => void): Promise<void> {
  const ours = new Set(argocdCrdFiles().map((file) => readCrdFile(file).name))
  const crds = (
    await kube.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, MANAGED_BY_SELECTOR)
  ).filter((crd) => ours.has(crd.metadata.name))
  for (const crd of crds) {
    const spec = crd.spec as {
      group: string
      names: { kind: string }
      versions: { name: string; storage?: boolean }[]
    }
    const version = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]?.name
    const left = ctx.flags.dryRun ? [] : await kube.list(`${spec.group}/${version}`, spec.names.kind)
    if (left.length) {
      const where = left.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).slice(0, 5)
      ctx.log.detail(
        `kept CustomResourceDefinition/${crd.metadata.name}: ${left.length} ${spec.names.kind} objects still use it (${where.join(', ')})`,
      )
      continue
    }
    if (!ctx.flags.dryRun)
      await kube.delete({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: crd.metadata.name,
      })
    said(`CustomResourceDefinition/${crd.metadata.name}`)
  }
}

/** A cluster without Argo CD's CRDs has no Applications. */
function absentKind(error: unknown): KObject[] {
  if (statusCode(error) === 404 || /Unrecognized API version and kind/.test(errorMessage(error))) return []
  throw error
}
