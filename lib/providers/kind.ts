import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publishCheckout, servedRepoNames } from '../argocd/gitops-source.ts'
import { repoServerPaths } from '../argocd/settings.ts'
import { BootstrapError } from '../core/errors.ts'
import { waitFor } from '../core/wait.ts'
import { chartRepoURL } from '../helm/chart-mirror.ts'
import { isNodeReady, type KObject } from '../kube/client.ts'
import type { ClusterProvider, Context } from '../runner/context.ts'
import {
  type ArchiveIndex,
  containerIds,
  dockerCgroupVersion,
  dockerImageLabels,
  imageArchives,
  nodeImages,
  normalImageName,
} from './docker.ts'
import {
  argocdUiHints,
  chartControllerStartedAt,
  chartInstallObjects,
  installArgoCDChart,
} from './helm-argocd.ts'
import {
  type KindNeeds,
  kindClusters,
  kindCreate,
  kindCreatesRunning,
  kindDelete,
  kindKubeconfig,
  kindLoadArchive,
  kindNodes,
  nodeImageNeeds,
} from './kind-cli.ts'
import { portForwardOpenBao } from './port-forward.ts'

/**
 * kind for dev: the cluster is made from a generated config with the pinned node image (or the
 * environment's cluster.nodeImage), and the checkout is served to the repo-server through a host
 * mount, so no pushed repository or token is needed. Image archives the environment names
 * (images.archives) are loaded into the nodes before Argo CD is installed. A marker in the state
 * folder records that this tool made the cluster: destroy deletes only clusters it made.
 */
export const kindProvider: ClusterProvider = {
  name: 'kind',

  async ensureCluster(ctx) {
    const name = ctx.env.cluster.name
    const kubeconfig = kindProvider.access(ctx).kubeconfig
    // What a create stopped during `kind create cluster` left is neither waited for nor reused.
    await stopOrphanedCreate(ctx, kubeconfig)
    // The cluster's nodes say whether it exists (kind lists none for a missing one) and are what
    // the image check needs: one kind process where `get clusters` then `get nodes` took two.
    let nodes = await kindNodes(ctx.run, name)
    if (nodes.length > 0 && (await leftHalfMade(ctx, nodes, kubeconfig))) {
      const what = `kind cluster ${name}: left half-made by a create stopped during \`kind create cluster\` (nothing ran on it yet)`
      if (ctx.flags.dryRun) return ctx.log.detail(`${what}: would be deleted and made again`)
      ctx.log.warn(`${what}: deleted, and made again`)
      await kindDelete(ctx.run, name)
      nodes = []
    }
    if (nodes.length > 0) {
      ctx.log.detail(`kind cluster ${name}: exists, reused`)
      await refreshKubeconfig(ctx, nodes, kubeconfig)
      const ready = await waitForNodes(ctx, kubeconfig)
      return loadImageArchives(ctx, nodes, ready)
    }
    if (ctx.flags.dryRun)
      return ctx.log.detail(
        `kind cluster ${name}: would be created from node image ${ctx.env.cluster.nodeImage}`,
      )
    // Docker makes a missing bind-mount source as root, and publishCheckout (run as the user)
    // could then never write the served repositories into it: the folder must exist first.
    await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
    await mkdir(reposDir(ctx.stateDir), { recursive: true })
    const image = ctx.env.cluster.nodeImage
    const workers = Math.max(0, ctx.env.cluster.nodes - 1)
    const needs = await clusterNeeds(ctx, image, workers)
    ctx.log.detail(`kind cluster ${name}: creating from node image ${image}`)
    // Marked before kind starts: a run killed half-way through kind create leaves a cluster that
    // destroy must still know as this runbook's (kind removes its own only when it fails cleanly),
    // and that the next create must know as unfinished.
    await writeFile(createdMarker(ctx.stateDir), `${name}\n`)
    await writeFile(unfinishedMarker(ctx.stateDir), `${name}\n`)
    const creating = { done: false }
    // The archives go into the nodes' containerd while kubeadm brings the control plane up: the
    // import does not need Kubernetes, and it takes as long as the rest of kind create.
    // Its error, if any, is held until kind create is done (a rejection nothing awaits yet would
    // end the process).
    const early = loadWhileCreating(ctx, creating).then(
      () => undefined,
      (error: unknown) => ({ error }),
    )
    try {
      await kindCreate(
        ctx.run,
        {
          name,
          image,
          workers,
          needs,
          extraMounts: [
            { hostPath: reposDir(ctx.stateDir), containerPath: repoServerPaths.servedRepos, readOnly: true },
          ],
        },
        kubeconfig,
      )
    } finally {
      creating.done = true
    }
    const failed = await early
    if (failed) throw failed.error
    nodes = await kindNodes(ctx.run, name)
    // kind wrote the kubeconfig for these very nodes, and finished making them.
    await writeFile(nodesStamp(kubeconfig), (await containerIds(ctx.run, nodes)).join('\n'))
    await rm(unfinishedMarker(ctx.stateDir), { force: true })
    // What the early load missed (a node it did not see yet) is loaded now; the rest is found there.
    await Promise.all([waitForNodes(ctx, kubeconfig), loadImageArchives(ctx, nodes)])
  },

  access: (ctx) => ({
    kubeconfig: join(ctx.stateDir, 'kubeconfig'),
    context: `kind-${ctx.env.cluster.name}`,
  }),

  async gitopsSource(ctx) {
    if (!ctx.env.gitops.serveCheckout) {
      const { platformRepo, tenantRepos } = ctx.env.gitops
      return {
        platformURL: platformRepo.url,
        tenantURLs: Object.fromEntries(Object.entries(tenantRepos).map(([t, r]) => [t, r.url])),
      }
    }
    if (!ctx.flags.dryRun) await mkdir(reposDir(ctx.stateDir), { recursive: true })
    return publishCheckout(
      ctx.env,
      reposDir(ctx.stateDir),
      (repo) => `file://${repoServerPaths.servedRepos}/${repo}`,
      ctx.run,
      { chartRepoURL: chartRepoURL(ctx.env), dryRun: ctx.flags.dryRun },
    )
  },

  argocdObjects: (ctx) => chartInstallObjects(ctx),

  installArgoCD: (ctx) =>
    installArgoCDChart(
      ctx,
      kindProvider.access(ctx),
      ctx.env.gitops.serveCheckout ? { servedRepoNames: servedRepoNames(ctx.env) } : {},
      // kind publishes its API on this machine's loopback (its default apiServerAddress): no helm elsewhere reaches it.
      { clusterOnlyHere: true },
    ),

  argocdControllerStartedAt: (ctx) => chartControllerStartedAt(ctx),

  openbao: (ctx) => portForwardOpenBao(ctx),

  accessHints: (ctx) => argocdUiHints(ctx, kindProvider.access(ctx)),

  // A cluster a stopped create left half-made holds nothing: no OpenBao to snapshot, nothing to compare a dry run with.
  async hasCluster(ctx) {
    const nodes = await kindNodes(ctx.run, ctx.env.cluster.name)
    return nodes.length > 0 && !(await leftHalfMade(ctx, nodes, kindProvider.access(ctx).kubeconfig))
  },

  async refuseDestroy(ctx) {
    if (ctx.flags.force || existsSync(createdMarker(ctx.stateDir))) return
    if ((await kindClusters(ctx.run)).includes(ctx.env.cluster.name)) throw notOurs(ctx)
  },

  async destroy(ctx) {
    const name = ctx.env.cluster.name
    if (!(await kindClusters(ctx.run)).includes(name))
      return ctx.log.detail(`kind cluster ${name}: not there, nothing to do`)
    if (!existsSync(createdMarker(ctx.stateDir)) && !ctx.flags.force) throw notOurs(ctx)
    await kindDelete(ctx.run, name)
    await rm(createdMarker(ctx.stateDir), { force: true })
    await rm(unfinishedMarker(ctx.stateDir), { force: true })
    await rm(join(ctx.stateDir, 'kubeconfig'), { force: true })
    await rm(nodesStamp(join(ctx.stateDir, 'kubeconfig')), { force: true })
    ctx.log.detail(`kind cluster ${name}: deleted (keys and secrets files are kept)`)
  },
}

/**
 * What this host and node image need of the kind config, each said once: a cgroup v1 host (the
 * kubelet refuses it otherwise), a node image that brings its own pod network and DNS upstream
 * (one built offline by `just tools`; its labels say so).
 */
async function clusterNeeds(ctx: Context, image: string, workers: number): Promise<KindNeeds> {
  const labels = await dockerImageLabels(ctx.run, image)
  const needs: KindNeeds = { ...nodeImageNeeds(labels) }
  if ((await dockerCgroupVersion(ctx.run)) === 1) {
    needs.cgroupV1 = true
    ctx.log.detail('the Docker host runs cgroup v1: the kubelet is configured with failCgroupV1: false')
  }
  if (needs.ownCni) {
    if (workers > 0)
      throw new BootstrapError(
        `node image ${image} brings a single-node pod network (no kindnetd), but cluster.nodes is ${workers + 1}`,
        {
          hint: `set cluster.nodes: 1 in ${ctx.env.file}, or use a node image with kind's own network (the pinned kindest/node)`,
          exitCode: 2,
        },
      )
    ctx.log.detail(`node image ${image} brings its own pod network: kind's default CNI is left out`)
  }
  if (needs.resolvConf) ctx.log.detail(`pods' upstream DNS: ${needs.resolvConf} in the node image`)
  return needs
}

/**
 * A `kind create cluster` of this environment still running here belongs to a run that was stopped
 * under it (the environment's lock is this run's): kind goes on alone, and this run would meet a
 * control plane kubeadm has not finished (its API refusing the admin, 403) or a second kind
 * colliding with it. Stopped, so the cluster it leaves is judged below; a dry run only says so.
 */
async function stopOrphanedCreate(ctx: Context, kubeconfig: string): Promise<void> {
  const name = ctx.env.cluster.name
  const pids = kindCreatesRunning(name, kubeconfig)
  if (pids.length === 0) return
  const what = `kind create cluster ${name} (pid ${pids.join(', ')}), left running by a create that was stopped`
  if (ctx.flags.dryRun) return ctx.log.detail(`${what}: would be stopped`)
  try {
    for (const pid of pids) process.kill(pid, 'SIGKILL')
  } catch (error) {
    throw new BootstrapError(`${what}, cannot be stopped: ${(error as Error).message}`, {
      hint: `stop it (\`kill ${pids.join(' ')}\`, as its user), then run create again`,
    })
  }
  await waitFor(`${what} to end`, async () => kindCreatesRunning(name, kubeconfig).length === 0, {
    timeoutMs: 10_000,
    intervalMs: 100,
  })
  ctx.log.warn(`${what}: stopped`)
}

/**
 * Whether the nodes are what a stopped `kind create cluster` left: kind started (its mark is there)
 * and never returned, or the mark would be gone and the nodes stamped. A run that died between the
 * two finds the stamp matching these very containers: kind had finished.
 */
async function leftHalfMade(ctx: Context, nodes: string[], kubeconfig: string): Promise<boolean> {
  if (!existsSync(unfinishedMarker(ctx.stateDir))) return false
  const stamp = nodesStamp(kubeconfig)
  if (!existsSync(stamp)) return true
  return (await readFile(stamp, 'utf8')) !== (await containerIds(ctx.run, nodes)).join('\n')
}

/**
 * The kubeconfig kind gives for the cluster, written again only when its nodes are other containers
 * than the ones it was written for: the address (a host port fixed when kind made the node) and the
 * certificates (the node's admin.conf) last as long as the node's container, and asking kind for
 * them costs a process and a `docker exec`. A dry run writes nothing it can do without: the
 * kubeconfig only when there is none to read.
 */
async function refreshKubeconfig(ctx: Context, nodes: string[], kubeconfig: string): Promise<void> {
  const stamp = nodesStamp(kubeconfig)
  const ids = (await containerIds(ctx.run, nodes)).join('\n')
  if (existsSync(kubeconfig) && existsSync(stamp) && (await readFile(stamp, 'utf8')) === ids) return
  if (ctx.flags.dryRun && existsSync(kubeconfig)) return
  await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
  await writeFile(kubeconfig, await kindKubeconfig(ctx.run, ctx.env.cluster.name), { mode: 0o600 })
  if (!ctx.flags.dryRun) await writeFile(stamp, ids)
}

/**
 * Loads the image archives once kind has started every node container and their containerd
 * answers; gives up quietly when kind create ends first (the load after it covers everything).
 * A failed load is the load's error, reported once kind create is done.
 */
async function loadWhileCreating(ctx: Context, creating: { done: boolean }): Promise<void> {
  if (!ctx.env.images.archives) return
  const name = ctx.env.cluster.name
  while (!creating.done) {
    const nodes = await kindNodes(ctx.run, name).catch(() => [])
    if (
      nodes.length === ctx.env.cluster.nodes &&
      (await Promise.all(nodes.map(containerdAnswers(ctx)))).every(Boolean)
    )
      return loadImageArchives(ctx, nodes)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

const containerdAnswers = (ctx: Context) => (node: string) =>
  nodeImages(ctx.run, node).then(
    () => true,
    () => false,
  )

async function waitForNodes(ctx: Context, kubeconfig: string): Promise<KObject[]> {
  const kube = await ctx.kube()
  return waitFor(
    'every node to be Ready',
    async () => {
      const nodes = await kube.list('v1', 'Node')
      return nodes.length > 0 && nodes.every(isNodeReady) ? nodes : undefined
    },
    {
      timeoutMs: 300_000,
      intervalMs: 2000,
      hint: `their conditions say why: \`kubectl --kubeconfig ${kubeconfig} describe nodes\`; \`just doctor\` checks Docker and kind`,
    },
  )
}

/**
 * images.archives: each archive whose images a node lacks is loaded into the cluster (once: a later
 * run finds them), all side by side — containerd imports them concurrently, and the largest
 * (Argo CD's) no longer waits behind the others.
 */
async function loadImageArchives(ctx: Context, nodes: string[], known: KObject[] = []): Promise<void> {
  const folder = ctx.env.images.archives
  if (!folder) return
  if (!existsSync(folder))
    throw new BootstrapError(`images.archives ${folder} does not exist`, {
      hint: 'make it, and put `docker save` archives of the images the platform runs in it (or unset images.archives / $PLATFORM_IMAGE_ARCHIVES)',
      exitCode: 2,
    })
  const name = ctx.env.cluster.name
  const indexFile = join(ctx.stateDir, 'image-archives.json')
  const read = existsSync(indexFile) ? (JSON.parse(await readFile(indexFile, 'utf8')) as ArchiveIndex) : {}
  const [{ archives, index }, present] = await Promise.all([
    imageArchives(ctx.run, folder, read),
    Promise.all(
      nodes.map(
        (node) => reportedImages(known.find((n) => n.metadata.name === node)) ?? nodeImages(ctx.run, node),
      ),
    ),
  ])
  if (!ctx.flags.dryRun && JSON.stringify(index) !== JSON.stringify(read))
    await writeFile(indexFile, `${JSON.stringify(index, null, 2)}\n`)
  const missing = archives.filter((archive) =>
    archive.images.some((image) => present.some((images) => !images.has(image))),
  )
  if (ctx.flags.dryRun) {
    for (const archive of missing) ctx.log.detail(`image archive ${archive.file}: would be loaded`)
    return
  }
  await Promise.all(
    missing.map(async (archive) => {
      await kindLoadArchive(ctx.run, name, archive.file)
      ctx.log.detail(`loaded ${archive.images.join(', ')} (${archive.file})`)
    }),
  )
  ctx.log.detail(
    `images.archives ${folder}: ${missing.length} loaded, ${archives.length - missing.length} already in the nodes`,
  )
}

/**
 * The images a Node's kubelet reports (status.images): no process to start. Undefined when not
 * known or possibly cut short — the kubelet lists at most nodeStatusMaxImages (50 by default),
 * largest first (Kubernetes pkg/kubelet/nodestatus/setters.go, Images) — so the node's containerd
 * is asked instead. An image the report lacks (loaded since the kubelet last listed, or a sixth
 * name of one image) is loaded again, which changes nothing.
 */
function reportedImages(node: KObject | undefined): Set<string> | undefined {
  const images = (node?.status as { images?: { names?: string[] }[] } | undefined)?.images
  if (!images || images.length >= KUBELET_MAX_IMAGES) return undefined
  return new Set(images.flatMap((image) => image.names ?? []).map(normalImageName))
}

const KUBELET_MAX_IMAGES = 50

function notOurs(ctx: Context): BootstrapError {
  const name = ctx.env.cluster.name
  return new BootstrapError(
    `kind cluster ${name} was not created by platform-bootstrap on this machine: not deleting it`,
    {
      hint: `run \`just destroy ${ctx.env.name} --force\` if you really mean it: it deletes that cluster`,
      exitCode: 2,
    },
  )
}

const reposDir = (stateDir: string) => join(stateDir, 'repos')
/** The node containers a kubeconfig was written for. */
const nodesStamp = (kubeconfig: string) => `${kubeconfig}.nodes`
const createdMarker = (stateDir: string) => join(stateDir, 'created-by-platform-bootstrap')
/** Written as kind create starts, removed once it returned: found with nodes, they are half-made. */
const unfinishedMarker = (stateDir: string) => join(stateDir, 'kind-create-unfinished')
