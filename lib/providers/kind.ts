import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { repoServerPaths } from '../argocd-settings.ts'
import type { ClusterProvider } from '../context.ts'
import { BootstrapError } from '../errors.ts'
import { publishCheckout, servedRepoNames } from '../gitops-source.ts'
import { kindClusters, kindCreate, kindDelete, kindKubeconfig } from '../kind.ts'
import { isNodeReady } from '../kube.ts'
import { waitFor } from '../wait.ts'
import { argocdUiHints, installArgoCDChart } from './helm-argocd.ts'
import { portForwardOpenBao } from './port-forward.ts'

/**
 * kind for dev: the cluster is made from a generated config with the pinned node image, and
 * the checkout is served to the repo-server through a host mount, so no pushed repository
 * or token is needed. A marker in the state folder records that this tool made the cluster:
 * destroy deletes only clusters it made.
 */
export const kindProvider: ClusterProvider = {
  name: 'kind',

  async ensureCluster(ctx) {
    const name = ctx.env.cluster.name
    const kubeconfig = kindProvider.access(ctx).kubeconfig
    await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
    if ((await kindClusters(ctx.run)).includes(name)) {
      ctx.log.detail(`kind cluster ${name}: exists, reused`)
      await writeFile(kubeconfig, await kindKubeconfig(ctx.run, name), { mode: 0o600 })
    } else if (ctx.flags.dryRun) {
      return ctx.log.detail(`kind cluster ${name}: would be created`)
    } else {
      // Docker makes a missing bind-mount source as root, and publishCheckout (run as the user)
      // could then never write the served repositories into it: the folder must exist first.
      await mkdir(reposDir(ctx.stateDir), { recursive: true })
      ctx.log.detail(`kind cluster ${name}: creating (node image pinned in lib/versions.ts)`)
      await kindCreate(
        ctx.run,
        {
          name,
          workers: Math.max(0, ctx.env.cluster.nodes - 1),
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
    await mkdir(reposDir(ctx.stateDir), { recursive: true })
    return publishCheckout(
      ctx.env,
      reposDir(ctx.stateDir),
      (repo) => `file://${repoServerPaths.servedRepos}/${repo}`,
      ctx.run,
    )
  },

  installArgoCD: (ctx) =>
    installArgoCDChart(
      ctx,
      kindProvider.access(ctx),
      ctx.env.gitops.serveCheckout ? { servedRepoNames: servedRepoNames(ctx.env) } : {},
    ),

  openbao: (ctx) => portForwardOpenBao(ctx),

  accessHints: (ctx) => argocdUiHints(ctx, kindProvider.access(ctx)),

  hasCluster: async (ctx) => (await kindClusters(ctx.run)).includes(ctx.env.cluster.name),

  async destroy(ctx) {
    const name = ctx.env.cluster.name
    if (!(await kindClusters(ctx.run)).includes(name))
      return ctx.log.detail(`kind cluster ${name}: not there, nothing to do`)
    if (!existsSync(createdMarker(ctx.stateDir)) && !ctx.flags.force) {
      throw new BootstrapError(
        `kind cluster ${name} was not created by platform-bootstrap on this machine: not deleting it`,
        {
          hint: `run \`just destroy ${ctx.env.name} --force\` if you really mean it`,
          exitCode: 2,
        },
      )
    }
    await kindDelete(ctx.run, name)
    await rm(createdMarker(ctx.stateDir), { force: true })
    await rm(join(ctx.stateDir, 'kubeconfig'), { force: true })
    ctx.log.detail(`kind cluster ${name}: deleted (keys and secrets files are kept)`)
  },
}

const reposDir = (stateDir: string) => join(stateDir, 'repos')
const createdMarker = (stateDir: string) => join(stateDir, 'created-by-platform-bootstrap')
