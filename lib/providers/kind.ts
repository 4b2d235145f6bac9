import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { repoServerPaths } from '../argocd-settings.ts'
import { chartRepoURL } from '../chart-mirror.ts'
import type { ClusterProvider, Context } from '../context.ts'
import {
  type ArchiveIndex,
  dockerCgroupVersion,
  dockerImageLabels,
  imageArchives,
  nodeImages,
} from '../docker.ts'
import { BootstrapError } from '../errors.ts'
import { publishCheckout, servedRepoNames } from '../gitops-source.ts'
import {
  type KindNeeds,
  kindClusters,
  kindCreate,
  kindDelete,
  kindKubeconfig,
  kindLoadArchive,
  kindNodes,
  nodeImageNeeds,
} from '../kind.ts'
import { isNodeReady } from '../kube.ts'
import { waitFor } from '../wait.ts'
import { argocdUiHints, chartInstallObjects, installArgoCDChart } from './helm-argocd.ts'
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
    if ((await kindClusters(ctx.run)).includes(name)) {
      ctx.log.detail(`kind cluster ${name}: exists, reused`)
      // A dry run writes nothing it can do without: the kubeconfig only when there is none to read.
      if (!ctx.flags.dryRun || !existsSync(kubeconfig)) {
        await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
        await writeFile(kubeconfig, await kindKubeconfig(ctx.run, name), { mode: 0o600 })
      }
    } else if (ctx.flags.dryRun) {
      return ctx.log.detail(
        `kind cluster ${name}: would be created from node image ${ctx.env.cluster.nodeImage}`,
      )
    } else {
      // Docker makes a missing bind-mount source as root, and publishCheckout (run as the user)
      // could then never write the served repositories into it: the folder must exist first.
      await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
      await mkdir(reposDir(ctx.stateDir), { recursive: true })
      const image = ctx.env.cluster.nodeImage
      const workers = Math.max(0, ctx.env.cluster.nodes - 1)
      const needs = await clusterNeeds(ctx, image, workers)
      ctx.log.detail(`kind cluster ${name}: creating from node image ${image}`)
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
      await writeFile(createdMarker(ctx.stateDir), `${name}\n`)
    }
    const kube = await ctx.kube()
    await waitFor(
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
    await loadImageArchives(ctx)
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
    ),

  openbao: (ctx) => portForwardOpenBao(ctx),

  accessHints: (ctx) => argocdUiHints(ctx, kindProvider.access(ctx)),

  hasCluster: async (ctx) => (await kindClusters(ctx.run)).includes(ctx.env.cluster.name),

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
    await rm(join(ctx.stateDir, 'kubeconfig'), { force: true })
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

/** images.archives: each archive whose images a node lacks is loaded into the cluster (once: a later run finds them). */
async function loadImageArchives(ctx: Context): Promise<void> {
  const folder = ctx.env.images.archives
  if (!folder) return
  if (!existsSync(folder))
    throw new BootstrapError(`images.archives ${folder} does not exist`, {
      hint: 'make it, and put `docker save` archives of the images the platform runs in it (or unset images.archives / $PLATFORM_IMAGE_ARCHIVES)',
      exitCode: 2,
    })
  const name = ctx.env.cluster.name
  const indexFile = join(ctx.stateDir, 'image-archives.json')
  const known = existsSync(indexFile) ? (JSON.parse(await readFile(indexFile, 'utf8')) as ArchiveIndex) : {}
  const [{ archives, index }, nodes] = await Promise.all([
    imageArchives(ctx.run, folder, known),
    kindNodes(ctx.run, name),
  ])
  if (!ctx.flags.dryRun && JSON.stringify(index) !== JSON.stringify(known))
    await writeFile(indexFile, `${JSON.stringify(index, null, 2)}\n`)
  const present = await Promise.all(nodes.map((node) => nodeImages(ctx.run, node)))
  const missing = archives.filter((archive) =>
    archive.images.some((image) => present.some((images) => !images.has(image))),
  )
  if (ctx.flags.dryRun) {
    for (const archive of missing) ctx.log.detail(`image archive ${archive.file}: would be loaded`)
    return
  }
  for (const archive of missing) {
    await kindLoadArchive(ctx.run, name, archive.file)
    ctx.log.detail(`loaded ${archive.images.join(', ')} (${archive.file})`)
  }
  ctx.log.detail(
    `images.archives ${folder}: ${missing.length} loaded, ${archives.length - missing.length} already in the nodes`,
  )
}

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
const createdMarker = (stateDir: string) => join(stateDir, 'created-by-platform-bootstrap')
