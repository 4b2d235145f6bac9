import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ksopsStandin, repoServerEnv } from '../../argocd/settings.ts'
import { BootstrapError } from '../../core/errors.ts'
import { type Run, run } from '../../core/exec.ts'
import { versions } from '../../core/versions.ts'
import { applyObjects } from '../../kube/apply.ts'
import { argocdCmdParamsConfigMap } from '../../kube/manifests.ts'
import { formatMs, type Logger } from '../../runner/log.ts'
import { dataOf, kubeApis } from '../kube.ts'
import { localLayout } from '../layout.ts'
import { localBinary } from '../process/binaries.ts'
import { ensureComponent } from '../process/component.ts'
import { LOOPBACK, pickPorts } from '../process/ports.ts'
import { httpGet, tcpOpen } from '../process/probe.ts'
import { Processes, type RunAs } from '../process/processes.ts'
import { type ArgoCDProcess, envFromConfigMaps, REDIS_SECRET, unreadParams } from './chart-env.ts'
import { ensureImage, IMAGE_BINARIES } from './image.ts'
import { applyCrds, argocdCrdFiles, checkSettingsObjects, ensureDefaultProject } from './objects.ts'
import { argocdRunAs, clusterClientPod, type Pod, podEnv, repoServerPod } from './pod.ts'
import { privateSocket } from './private-socket.ts'
import { ensureRedisSecret, redisComponent, redisSocket } from './redis.ts'

/**
 * Argo CD on the local cluster without its images, as its Helm chart runs it: its real CRDs
 * (argocd-objects.ts), redis with the password of Secret argocd-redis (made once, as the chart's
 * secret-init Job does: redis.ts), and the `argocd` binary (argocd-image.ts) run three times —
 * repo-server, application-controller, server — with ARGOCD_FAKE_IN_CLUSTER so
 * https://kubernetes.default.svc is the kubeconfig's cluster (Argo CD's own local-development
 * recipe does the same). Each process gets what its pod gets (pod.ts): the image's user, a
 * filesystem of its own under the node folder, the mounted Secrets and ConfigMaps, and the
 * environment the chart's configMapKeyRefs give it from argocd-cm and argocd-cmd-params-cm
 * (chart-env.ts), read from the cluster. argocd-cm, argocd-secret, the git config ConfigMap and
 * the age key Secret are the caller's; argocd-cmd-params-cm is made here, with the addresses the
 * chart's presets would set (`redis.server`, `repo.server`) under the caller's params.
 */

/** In start order; stopped in reverse. */
export const ARGOCD_PROCESSES = [
  'redis',
  'argocd-repo-server',
  'argocd-application-controller',
  'argocd-server',
] as const

/** The variable the repo-server and its askpass helper read the askpass socket's path from (Argo CD's util/askpass). */
export const ASK_PASS_SOCKET_ENV = 'ARGOCD_ASK_PASS_SOCK'

export interface ArgoCDOptions {
  stateDir: string
  /** The cluster Argo CD manages as https://kubernetes.default.svc, and where its CRDs go. */
  kubeconfig: string
  namespace?: string
  /** argocd-cmd-params-cm entries (lib/argocd/settings.ts argocdCmdParams), over the address presets. */
  params: Readonly<Record<string, string>>
  log: Logger
  run?: Run
  timeoutMs?: number
  /** Injectable for tests: the CRD manifests and the KSOPS stand-in to install. */
  crdFiles?: string[]
  ksopsStandin?: string
}

export interface ArgoCD {
  namespace: string
  /** 127.0.0.1:<port> of the repo-server (gRPC over TLS). */
  repoServer: string
  /** redis's unix socket (password: Secret argocd-redis). */
  redis: string
  /** 127.0.0.1:<port> of argocd-server (plain HTTP and gRPC: server.insecure). */
  server: string
  /** The user the three Argo CD processes run as; unset: this run's user. */
  runAs?: RunAs
  reused: boolean
  /**
   * The repo-server, when this run started or restarted it: the manifests Argo CD compared before
   * came from its predecessor. (A restarted controller is told by its start: controllerStartedAt.)
   */
  repoServerStarted: boolean
}

/** When the application controller now running in `stateDir` was started; undefined when it is not running. */
export function controllerStartedAt(stateDir: string): Date | undefined {
  const procs = new Processes(stateDir)
  const name = 'argocd-application-controller'
  const record = procs.isRunning(name) ? procs.record(name) : undefined
  return record ? new Date(record.startedAt) : undefined
}

export async function ensureArgoCD(options: ArgoCDOptions): Promise<ArgoCD> {
  const { log, stateDir } = options
  const namespace = options.namespace ?? 'argocd'
  const timeoutMs = options.timeoutMs ?? 120_000
  const started = performance.now()
  const layout = localLayout(stateDir)
  const procs = new Processes(stateDir)
  const apis = kubeApis(options.kubeconfig)

  // What does not depend on each other goes side by side: a no-op run is mostly these reads.
  const cluster = async () => {
    await Promise.all([
      applyCrds(apis, options.crdFiles ?? argocdCrdFiles(), timeoutMs, options.kubeconfig),
      applyObjects(apis.kube, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }], {
        force: true,
      }),
    ])
    await checkSettingsObjects(apis, namespace)
    log.detail(`argocd: CRDs and namespace in ${formatMs(performance.now() - started)}`)
  }
  const [runAs] = await Promise.all([argocdRunAs(options.run ?? run, log), cluster()])
  // The first request for a resource of a new CRD makes the API server build that group's
  // storage and schema models: ~2 s for Argo CD's (its Application CRD is 400 kB). The default
  // project's create pays it while the processes start; it is awaited before this returns, so no
  // Application (step 07 makes the first) ever meets a missing project. Settled, not left to
  // reject on its own while the processes start.
  const project = ensureDefaultProject(apis, namespace, log).then(
    () => undefined,
    (error: unknown) => ({ error }),
  )
  const ports = {
    repo: await portsOf(procs, 'argocd-repo-server', ['grpc', 'metrics']),
    controller: await portsOf(procs, 'argocd-application-controller', ['metrics']),
    server: await portsOf(procs, 'argocd-server', ['http', 'metrics']),
  }
  const redisAddress = redisSocket(layout.node, runAs)
  const askPassSocket = privateSocket(layout.node, 'repo-server', 'ask-pass.sock', runAs)
  const repoServer = `${LOOPBACK}:${ports.repo.grpc}`
  const server = `${LOOPBACK}:${ports.server.http}`
  const params = {
    'redis.server': redisAddress,
    'repo.server': repoServer,
    // Loopback only: the chart's pods listen on their own network, these on the host's.
    'reposerver.listen.address': LOOPBACK,
    'server.listen.address': LOOPBACK,
    // The repo-server gets repository credentials with each request: its clients check its
    // certificate (the local CA's), so a process that took its port while it was down gets none.
    'controller.repo.server.strict.tls': 'true',
    'server.repo.server.strict.tls': 'true',
    ...options.params,
  }
  const unread = unreadParams(params)
  if (unread.length)
    throw new BootstrapError(`argocd-cmd-params-cm: no Argo CD process reads ${unread.join(', ')}`, {
      hint: 'check the key against lib/local/argocd/chart-env.ts (recorded from the argo-cd chart) and fix argocdCmdParams in lib/argocd/settings.ts',
    })
  const [redisPassword, cm, cmdParams] = await Promise.all([
    ensureRedisSecret(apis, namespace, log),
    dataOf(apis.kube, 'ConfigMap', namespace, 'argocd-cm').then((data) => data ?? {}),
    (async () => {
      await applyObjects(apis.kube, [argocdCmdParamsConfigMap(namespace, params)], { force: true })
      return (await dataOf(apis.kube, 'ConfigMap', namespace, 'argocd-cmd-params-cm')) ?? {}
    })(),
  ])
  const maps = { cm, params: cmdParams }

  // Redis starts while each process's pod is laid out, as the chart's pod specs lay them out.
  mkdirSync(layout.node, { recursive: true, mode: 0o755 })
  const [redis, repoPod, controllerPod, serverPod] = await Promise.all([
    ensureComponent(procs, redisComponent(layout.redis, redisAddress, redisPassword), log),
    repoServerPod(apis, layout, namespace, runAs, options.ksopsStandin ?? ksopsStandin),
    clusterClientPod(layout, 'argocd-application-controller', options.kubeconfig, namespace, runAs),
    clusterClientPod(layout, 'argocd-server', options.kubeconfig, namespace, runAs),
  ])
  const pods = { repo: repoPod, controller: controllerPod, server: serverPod }
  // v3.6 runs git-verify-wrapper.sh for every revision; without it syncs fail "permission denied".
  const image = ensureImage(
    layout.node,
    versions.argocd,
    Object.fromEntries(IMAGE_BINARIES.map((name) => [name, localBinary(name)])),
  )
  const argocd = join(image, 'argocd')
  const env = (name: ArgoCDProcess, pod: Pod) => ({
    // The image's PATH: its binaries, then the system's (git, as the image has it).
    PATH: `${image}:/usr/local/bin:/usr/bin:/bin`,
    ...podEnv(pod),
    ...envFromConfigMaps(name, maps),
    [REDIS_SECRET.env]: redisPassword,
    ARGOCD_BINARY_NAME: name,
  })

  // The three start side by side, as the chart's pods do: none waits for another to be ready.
  const repo = ensureComponent<'grpc' | 'metrics'>(
    procs,
    {
      name: 'argocd-repo-server',
      portKeys: ['grpc', 'metrics'],
      fixedPorts: ports.repo,
      spec: ({ grpc, metrics }) => ({
        command: argocd,
        // The chart's args; --metrics-address because the variable the chart sets for it is not
        // the one the binary reads (chart-env.ts), and metrics stay on loopback here.
        args: [`--port=${grpc}`, `--metrics-port=${metrics}`, `--metrics-address=${LOOPBACK}`],
        env: {
          ...env('argocd-repo-server', pods.repo),
          ...repoServerEnv(pods.repo.paths),
          // Where git's askpass helper fetches a repository's credentials from the repo-server. The
          // default, /tmp/reposerver-ask-pass.sock, is one path for the whole host: another stack's
          // repo-server would take it over (it removes the file before listening), another user
          // could listen there first.
          [ASK_PASS_SOCKET_ENV]: askPassSocket,
        },
        cwd: pods.repo.home,
        runAs,
        inputs: pods.repo.inputs,
      }),
      ready: async ({ grpc, metrics }) =>
        (await tcpOpen(grpc)) && (await httpGet(`http://${LOOPBACK}:${metrics}/healthz`)).status === 200,
      readyTimeoutMs: timeoutMs,
    },
    log,
  )

  const controller = ensureComponent<'metrics'>(
    procs,
    {
      name: 'argocd-application-controller',
      portKeys: ['metrics'],
      fixedPorts: ports.controller,
      spec: ({ metrics }) => ({
        command: argocd,
        // The chart's args. Argo CD binds its controller metrics on 0.0.0.0 whatever we say (controller/appcontroller.go).
        args: [`--metrics-port=${metrics}`],
        env: env('argocd-application-controller', pods.controller),
        cwd: pods.controller.home,
        runAs,
        inputs: pods.controller.inputs,
      }),
      ready: async ({ metrics }) => (await httpGet(`http://${LOOPBACK}:${metrics}/healthz`)).status === 200,
      readyTimeoutMs: timeoutMs,
    },
    log,
  )

  const api = ensureComponent<'http' | 'metrics'>(
    procs,
    {
      name: 'argocd-server',
      portKeys: ['http', 'metrics'],
      fixedPorts: ports.server,
      spec: ({ http, metrics }) => ({
        command: argocd,
        // The chart's args, and --metrics-address: the chart's variable for it renames the flag (chart-env.ts).
        args: [`--port=${http}`, `--metrics-port=${metrics}`, `--metrics-address=${LOOPBACK}`],
        env: env('argocd-server', pods.server),
        cwd: pods.server.home,
        runAs,
        inputs: pods.server.inputs,
      }),
      ready: async ({ http }) => (await httpGet(`http://${LOOPBACK}:${http}/healthz`)).status === 200,
      readyTimeoutMs: timeoutMs,
    },
    log,
  )

  const [repoDone, controllerDone, serverDone] = await Promise.all([repo, controller, api])
  const failed = await project
  if (failed) throw failed.error
  const reused = [redis, repoDone, controllerDone, serverDone].every((c) => c.outcome === 'adopted')
  log.detail(`argocd: ${reused ? 'reused' : 'ready'} in ${formatMs(performance.now() - started)}`)
  return {
    namespace,
    repoServer,
    redis: redisAddress,
    server,
    runAs,
    reused,
    repoServerStarted: repoDone.outcome !== 'adopted',
  }
}

/** A running process keeps its ports; a stopped one gets its previous ones back when they are free. */
async function portsOf<K extends string>(
  procs: Processes,
  name: string,
  keys: readonly K[],
): Promise<Record<K, number>> {
  const record = procs.record(name)
  if (record && procs.isRunning(name) && keys.every((key) => record.ports[key] !== undefined))
    return record.ports as Record<K, number>
  return pickPorts(keys, record?.ports)
}
