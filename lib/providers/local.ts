import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publishCheckout, servedRepoNames } from '../argocd/gitops-source.ts'
import { argocdCmdParams, repoServerGitConfigMap } from '../argocd/settings.ts'
import { BootstrapError } from '../core/errors.ts'
import { type KObject, loadKubeConfig } from '../kube/client.ts'
import { argocdConfigMap, argocdServerSecret } from '../kube/manifests.ts'
import { controllerStartedAt, ensureArgoCD } from '../local/argocd/argocd.ts'
import { podRepoServerPaths } from '../local/argocd/pod.ts'
import { ensureControlPlane } from '../local/control-plane.ts'
import { localLayout, podRoot, servedReposDir } from '../local/layout.ts'
import { ensureOpenBao, resetOpenBaoStorage, storageIdFile } from '../local/openbao.ts'
import { pkiPaths } from '../local/pki.ts'
import { Processes } from '../local/process/processes.ts'
import { stopStack } from '../local/stack.ts'
import type { OpenBaoEndpoint } from '../openbao/endpoint.ts'
import type { ClusterProvider, Context } from '../runner/context.ts'
import { type Tool, toolDir, tools } from '../tools/catalogue.ts'

/**
 * The whole platform as processes on loopback: a real control plane with kwok nodes, Argo CD's
 * own controllers in place of its Helm release, OpenBao in place of its pod. Each is
 * configured from the same settings the cluster gets (lib/argocd/settings.ts), with the
 * in-cluster paths swapped for files under the environment's state folder.
 */
export const localProvider: ClusterProvider = {
  name: 'local',

  async ensureCluster(ctx) {
    if (ctx.flags.dryRun) return ctx.log.detail('local cluster: would be started or adopted')
    const plane = await ensureControlPlane({
      stateDir: ctx.stateDir,
      nodes: ctx.env.cluster.nodes,
      log: ctx.log,
      run: ctx.run,
    })
    ctx.log.detail(`${plane.nodes.length} nodes Ready; kubeconfig ${plane.kubeconfig}`)
  },

  access: (ctx) => ({ kubeconfig: localLayout(ctx.stateDir).adminKubeconfig }),

  async gitopsSource(ctx) {
    if (!ctx.env.gitops.serveCheckout) {
      throw new BootstrapError(
        `provider local cannot reach remote repositories: set gitops.serveCheckout: true in ${ctx.env.file}`,
        { exitCode: 2 },
      )
    }
    // Where the kind node has the served checkout; the repo-server reads it from there.
    const reposDir = servedReposDir(localLayout(ctx.stateDir))
    if (!ctx.flags.dryRun) await mkdir(reposDir, { recursive: true, mode: 0o755 })
    return publishCheckout(ctx.env, reposDir, (repo) => `file://${join(reposDir, repo)}`, ctx.run, {
      dryRun: ctx.flags.dryRun,
    })
  },

  async argocdObjects(ctx) {
    const layout = localLayout(ctx.stateDir)
    const namespace = ctx.env.argocd.namespace
    // The settings the chart's values give on kind, with the repo-server's paths as it sees them here.
    const repoServer = podRepoServerPaths(podRoot(layout, 'argocd-repo-server'), servedReposDir(layout))
    const gitConfig = repoServerGitConfigMap(namespace, servedRepoNames(ctx.env), repoServer).toJSON()
    return [
      argocdConfigMap(namespace),
      await keptArgocdSecret(ctx, namespace),
      gitConfig as unknown as KObject,
    ]
  },

  async installArgoCD(ctx) {
    const layout = localLayout(ctx.stateDir)
    const namespace = ctx.env.argocd.namespace
    if (ctx.flags.dryRun) return ctx.log.detail('Argo CD processes: would be started or adopted')
    const argo = await ensureArgoCD({
      stateDir: ctx.stateDir,
      kubeconfig: layout.adminKubeconfig,
      namespace,
      params: argocdCmdParams,
      log: ctx.log,
      run: ctx.run,
    })
    ctx.log.detail(
      `repo-server ${argo.repoServer}, server ${argo.server}, redis ${argo.redis}${argo.runAs ? ` (as uid ${argo.runAs.uid})` : ''}${argo.reused ? ' (already running)' : ''}`,
    )
    // The statuses Argo CD holds were computed from its predecessor's manifests: counted as a change
    // of this run, so 08 asks every Application to refresh (the chart's pods restart on a Helm
    // upgrade: counted there).
    if (argo.repoServerStarted) ctx.changed?.add('process argocd-repo-server (started)')
  },

  argocdControllerStartedAt: async (ctx) => controllerStartedAt(ctx.stateDir),

  async openbao(ctx) {
    const layout = localLayout(ctx.stateDir)
    const unsealKeyFile = join(layout.openbao, 'unseal', 'key')
    const options = { stateDir: ctx.stateDir, unsealKeyFile, log: ctx.log }
    const endpoint = async (address: string): Promise<OpenBaoEndpoint> => ({
      address,
      close: async () => {},
      storage: {
        id: async () =>
          (await readFile(storageIdFile(ctx.stateDir), 'utf8').catch(() => '')).trim() || undefined,
        async reset() {
          const again = await resetOpenBaoStorage(options)
          if (again.address !== address)
            throw new BootstrapError(`OpenBao started again at ${again.address}, not ${address}`, {
              hint: `its port was taken meanwhile: run \`just create ${ctx.env.name}\` again`,
            })
        },
      },
      // Kubernetes auth is checked against this apiserver, over loopback, with its own CA.
      kubernetesHost: loadKubeConfig(layout.adminKubeconfig).getCurrentCluster()?.server ?? '',
      kubernetesCaCert: await readFile(pkiPaths(layout.pki).ca.cert, 'utf8'),
    })
    // A stopped stack (destroy's snapshot): OpenBao alone, with the key file its last start wrote.
    if (!new Processes(ctx.stateDir).isRunning('kube-apiserver')) {
      if (!existsSync(unsealKeyFile))
        throw new BootstrapError('the local cluster is not running, and OpenBao never ran in it', {
          hint: `\`just create ${ctx.env.name}\` starts it`,
        })
      return endpoint((await ensureOpenBao(options)).address)
    }
    // Unsealed the way the pod is: from the openbao-unseal-key bootstrap Secret, as a file.
    const kube = await ctx.kube()
    const unseal = ctx.env.bootstrapSecrets.find((spec) => spec.name === 'openbao-unseal-key')
    if (!unseal)
      throw new BootstrapError(`bootstrapSecrets in ${ctx.env.file} has no openbao-unseal-key Secret`, {
        exitCode: 2,
      })
    const secret = await kube.get({
      apiVersion: 'v1',
      kind: 'Secret',
      name: unseal.name,
      namespace: unseal.namespace,
    })
    const [key] = Object.keys(unseal.data)
    const value = key && (secret?.data as Record<string, string> | undefined)?.[key]
    if (!value)
      throw new BootstrapError(
        `Secret ${unseal.namespace}/${unseal.name} is missing: run \`just step 05 ${ctx.env.name}\``,
      )
    await mkdir(join(layout.openbao, 'unseal'), { recursive: true, mode: 0o700 })
    await writeFile(unsealKeyFile, Buffer.from(value, 'base64'), { mode: 0o600 })
    return endpoint((await ensureOpenBao(options)).address)
  },

  accessHints(ctx) {
    const layout = localLayout(ctx.stateDir)
    const bin = (tool: string, binary: string) =>
      join(toolDir(tools.find((t) => t.name === tool) as Tool), binary)
    const kubectl = `${bin('kubernetes', 'kubectl')} --kubeconfig ${layout.adminKubeconfig} -n ${ctx.env.argocd.namespace}`
    const server = new Processes(ctx.stateDir).record('argocd-server')?.ports.http
    const argocd = bin('argocd', 'argocd')
    return [
      `kubeconfig:      export KUBECONFIG=${layout.adminKubeconfig}`,
      `applications:    ${kubectl} get applications`,
      ...(server
        ? [
            `argocd CLI:      ${argocd} login 127.0.0.1:${server} --plaintext --username admin --password "$(${kubectl} get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)"`,
            `                 ${argocd} app list`,
          ]
        : []),
      `process logs:    ${layout.logs}/`,
      'stop it all:     npx just destroy local',
    ]
  },

  async hasCluster(ctx) {
    const layout = localLayout(ctx.stateDir)
    return existsSync(layout.etcdData) || existsSync(layout.openbao)
  },

  async destroy(ctx) {
    // The node folder goes too, the served snapshot of the checkout with it: the next create publishes it again.
    await stopStack(ctx.stateDir, { wipe: true, log: ctx.log })
    ctx.log.detail(
      'local cluster: every process stopped, cluster state removed (keys and secrets files are kept)',
    )
  },
}

/** argocd-secret's server key is made once; an existing one is kept, so a re-run changes nothing. */
async function keptArgocdSecret(ctx: Context, namespace: string): Promise<KObject> {
  const existing = await (await ctx.kube()).get({
    apiVersion: 'v1',
    kind: 'Secret',
    name: 'argocd-secret',
    namespace,
  })
  const current = (existing?.data as Record<string, string> | undefined)?.['server.secretkey']
  return argocdServerSecret(namespace, current ?? randomBytes(32).toString('base64'))
}
