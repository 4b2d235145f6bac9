import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import type { Run } from '../core/exec.ts'
import { statusCode } from '../core/request-failure.ts'
import { waitFor } from '../core/wait.ts'
import { applyObjects } from '../kube/apply.ts'
import { isNodeReady } from '../kube/client.ts'
import { formatMs, type Logger } from '../runner/log.ts'
import { kubeApis, LOCAL_POLL } from './kube.ts'
import { writeKubeconfig } from './kubeconfig.ts'
import { fakeNode, KWOK_NODE_ANNOTATION, nodeName, writeKwokStages } from './kwok.ts'
import { type LocalLayout, localLayout } from './layout.ts'
import { ensurePki, type Pki, pkiPaths } from './pki.ts'
import { localBinary } from './process/binaries.ts'
import { type Component, ensureComponent } from './process/component.ts'
import { LOOPBACK } from './process/ports.ts'
import { httpGet } from './process/probe.ts'
import { Processes } from './process/processes.ts'

/**
 * The local cluster's control plane as processes on 127.0.0.1: etcd → kube-apiserver →
 * kube-controller-manager + kube-scheduler → kwok playing the kubelet of N fake nodes.
 * The flags are the ones each binary needs to run outside a cluster, verified on this stack.
 */

export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24'
/** kwok's pod IPs; its default (10.0.0.0/24) would overlap the service range. */
export const POD_CIDR = '10.244.0.0/16'
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local'

/**
 * The API client limits of kube-controller-manager and kube-scheduler. Their defaults (20 and 50
 * requests a second) guard a shared API server from thousands of nodes' controllers; here they are
 * the bottleneck of a platform with many tenants: each Deployment costs the deployment and
 * replicaset controllers ~10 writes, which at 20 a second left the last of 100 tenants' pods ~6 s
 * behind their Deployments. kwokctl, which runs the same binaries for the same purpose, sets these
 * values with its `disableQPSLimits`; the API server's priority and fairness still applies.
 */
const CLIENT_LIMIT_FLAGS = ['--kube-api-qps=5000', '--kube-api-burst=10000'] as const

/** In start order; stopped in reverse. */
export const CONTROL_PLANE_PROCESSES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
] as const

export interface ControlPlaneOptions {
  stateDir: string
  /** How many fake nodes kwok manages (kwok-node-0 …). */
  nodes: number
  log: Logger
  run?: Run
  /** How long the apiserver, and then the nodes, may take. */
  timeoutMs?: number
}

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in system:masters), 0600. */
  kubeconfig: string
  /** https://127.0.0.1:<port> */
  server: string
  caFile: string
  nodes: string[]
  /** True when every process was already running and was adopted as is. */
  reused: boolean
}

export async function ensureControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { log, stateDir } = options
  const timeoutMs = options.timeoutMs ?? 120_000
  if (!Number.isInteger(options.nodes) || options.nodes < 1) {
    throw new BootstrapError(`the local cluster needs at least one node (got ${options.nodes})`)
  }
  const started = performance.now()
  const layout = localLayout(stateDir)
  for (const dir of [stateDir, layout.kubeconfigs, layout.kwok])
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  const procs = new Processes(stateDir)
  const pki = await ensurePki({ dir: layout.pki, log, run: options.run })

  const etcd = await ensureComponent(procs, etcdComponent(layout), log)
  const apiserver = await ensureComponent(
    procs,
    apiserverComponent(pki, etcd.ports.client, { readyTimeoutMs: timeoutMs }),
    log,
  )
  const server = `https://${LOOPBACK}:${apiserver.ports.secure}`
  log.detail(`control plane: API ready at ${server} after ${formatMs(performance.now() - started)}`)

  writeKubeconfig(layout.adminKubeconfig, kubeconfigFor(pki, 'admin', server))
  for (const client of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) {
    writeKubeconfig(join(layout.kubeconfigs, `${client}.yaml`), kubeconfigFor(pki, client, server))
  }
  await writeKwokStages({ file: join(layout.kwok, 'stages.yaml'), run: options.run })

  const rest = await Promise.all([
    ensureComponent(procs, controllerManagerComponent(layout, pki), log),
    ensureComponent(procs, schedulerComponent(layout), log),
    ensureComponent(procs, kwokComponent(layout), log),
  ])
  const alive = () => {
    for (const name of CONTROL_PLANE_PROCESSES) {
      if (!procs.isRunning(name)) {
        throw new BootstrapError(`${name} exited: ${procs.logTail(name, 3)}`, {
          hint: `see ${procs.logFile(name)}`,
        })
      }
    }
  }

  const apis = kubeApis(layout.adminKubeconfig)
  // The controller-manager works once it has made the default ServiceAccount (pods need it).
  await waitFor(
    'the default ServiceAccount (kube-controller-manager)',
    async () => {
      alive()
      await apis.core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })
      return true
    },
    {
      ...LOCAL_POLL,
      timeoutMs,
      hint: `kube-controller-manager makes it: see ${procs.logFile('kube-controller-manager')}`,
    },
  )

  const nodes = await ensureNodes(apis, options.nodes, log, alive, {
    timeoutMs,
    hint: `kwok marks them Ready: see ${procs.logFile('kwok')}; \`kubectl --kubeconfig ${layout.adminKubeconfig} get nodes -o wide\``,
  })
  const reused = [etcd, apiserver, ...rest].every((c) => c.outcome === 'adopted')
  log.detail(
    `control plane: ${reused ? 'reused' : 'ready'}, ${nodes.length} node(s) Ready, in ${formatMs(performance.now() - started)}`,
  )
  return { kubeconfig: layout.adminKubeconfig, server, caFile: pki.ca.cert, nodes, reused }
}

function etcdComponent(layout: LocalLayout): Component<'client' | 'peer'> {
  const pki = pkiPaths(layout.pki)
  return {
    name: 'etcd',
    portKeys: ['client', 'peer'],
    spec: ({ client, peer }) => {
      mkdirSync(layout.etcdData, { recursive: true, mode: 0o700 })
      const clientUrl = `https://${LOOPBACK}:${client}`
      const peerUrl = `http://${LOOPBACK}:${peer}`
      return {
        command: localBinary('etcd'),
        args: [
          '--name=local',
          `--data-dir=${layout.etcdData}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=local=${peerUrl}`,
          `--cert-file=${pki.etcd.cert}`,
          `--key-file=${pki.etcd.key}`,
          '--client-cert-auth',
          `--trusted-ca-file=${pki.ca.cert}`,
          '--log-level=warn',
        ],
        inputs: [pki.etcd.cert, pki.ca.cert],
      }
    },
    ready: async ({ client }) => {
      const answer = await httpGet(`https://${LOOPBACK}:${client}/health`, {
        tls: { ca: pki.ca.cert, cert: pki.etcdClient.cert, key: pki.etcdClient.key },
      })
      return answer.status === 200 && answer.body.includes('"health":"true"')
    },
    readyTimeoutMs: 30_000,
  }
}

/** The kube-apiserver as a component of the stack (exported for the tests' restart fault). */
export function apiserverComponent(
  pki: Pki,
  etcdPort: number,
  options: { readyTimeoutMs: number; fixedPort?: number },
): Component<'secure'> {
  const admin = pki.clients.admin
  return {
    name: 'kube-apiserver',
    portKeys: ['secure'],
    fixedPorts: options.fixedPort === undefined ? undefined : { secure: options.fixedPort },
    spec: ({ secure }) => ({
      command: localBinary('kube-apiserver'),
      args: [
        `--etcd-servers=https://${LOOPBACK}:${etcdPort}`,
        `--etcd-cafile=${pki.ca.cert}`,
        `--etcd-certfile=${pki.etcdClient.cert}`,
        `--etcd-keyfile=${pki.etcdClient.key}`,
        `--secure-port=${secure}`,
        `--bind-address=${LOOPBACK}`,
        `--advertise-address=${LOOPBACK}`,
        `--tls-cert-file=${pki.apiserver.cert}`,
        `--tls-private-key-file=${pki.apiserver.key}`,
        `--client-ca-file=${pki.ca.cert}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccount.publicKey}`,
        `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        // 127.0.0.1 is not a valid Endpoints address: keep the reconciler from logging that forever.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        '--shutdown-watch-termination-grace-period=2s',
      ],
      inputs: [pki.ca.cert, pki.apiserver.cert, pki.serviceAccount.publicKey],
    }),
    ready: async ({ secure }) => {
      const tls = { ca: pki.ca.cert, cert: admin.cert, key: admin.key }
      return (await httpGet(`https://${LOOPBACK}:${secure}/readyz`, { tls })).status === 200
    },
    readyTimeoutMs: options.readyTimeoutMs,
    stopTimeoutMs: 15_000,
  }
}

function controllerManagerComponent(layout: LocalLayout, pki: Pki): Component<never> {
  const kubeconfig = join(layout.kubeconfigs, 'kube-controller-manager.yaml')
  return {
    name: 'kube-controller-manager',
    portKeys: [],
    spec: () => ({
      command: localBinary('kube-controller-manager'),
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
        `--root-ca-file=${pki.ca.cert}`,
        `--cluster-signing-cert-file=${pki.ca.cert}`,
        `--cluster-signing-key-file=${pki.ca.key}`,
        '--use-service-account-credentials=false',
        '--leader-elect=false',
        '--secure-port=0',
        ...CLIENT_LIMIT_FLAGS,
      ],
      inputs: [kubeconfig, pki.serviceAccount.privateKey],
    }),
    ready: async () => true,
    readyTimeoutMs: 10_000,
  }
}

function schedulerComponent(layout: LocalLayout): Component<never> {
  const kubeconfig = join(layout.kubeconfigs, 'kube-scheduler.yaml')
  return {
    name: 'kube-scheduler',
    portKeys: [],
    spec: () => ({
      command: localBinary('kube-scheduler'),
      args: [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0', ...CLIENT_LIMIT_FLAGS],
      inputs: [kubeconfig],
    }),
    ready: async () => true,
    readyTimeoutMs: 10_000,
  }
}

function kwokComponent(layout: LocalLayout): Component<never> {
  const kubeconfig = join(layout.kubeconfigs, 'kwok.yaml')
  const stages = join(layout.kwok, 'stages.yaml')
  return {
    name: 'kwok',
    portKeys: [],
    spec: () => ({
      command: localBinary('kwok'),
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--config=${stages}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION.key}=${KWOK_NODE_ANNOTATION.value}`,
        `--server-address=${LOOPBACK}:0`,
        `--cidr=${POD_CIDR}`,
      ],
      inputs: [kubeconfig, stages],
    }),
    ready: async () => true,
    readyTimeoutMs: 10_000,
  }
}

function kubeconfigFor(pki: Pki, client: keyof Pki['clients'], server: string) {
  return {
    server,
    caFile: pki.ca.cert,
    certFile: pki.clients[client].cert,
    keyFile: pki.clients[client].key,
    name: client === 'admin' ? 'platform-local' : client,
  }
}

/** Creates kwok-node-0 … kwok-node-(n-1), deletes fake nodes beyond n, waits until all n are Ready. */
async function ensureNodes(
  apis: ReturnType<typeof kubeApis>,
  count: number,
  log: Logger,
  alive: () => void,
  wait: { timeoutMs: number; hint: string },
): Promise<string[]> {
  const wanted = Array.from({ length: count }, (_, i) => nodeName(i))
  const existing = await apis.core.listNode({ labelSelector: 'type=kwok' })
  const names = new Set(existing.items.map((n) => n.metadata?.name ?? ''))
  const missing = wanted.filter((name) => !names.has(name))
  if (missing.length > 0) {
    await applyObjects(
      apis.kube,
      missing.map((name) => fakeNode(Number(name.slice('kwok-node-'.length)))),
      { force: true },
    )
    log.detail(`nodes: created ${missing.join(', ')}`)
  }
  for (const node of existing.items) {
    const name = node.metadata?.name ?? ''
    const managed = node.metadata?.annotations?.[KWOK_NODE_ANNOTATION.key] === KWOK_NODE_ANNOTATION.value
    if (managed && !wanted.includes(name)) {
      await apis.core.deleteNode({ name }).catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error
      })
      log.detail(`nodes: deleted ${name} (the environment asks for ${count})`)
    }
  }
  const started = performance.now()
  await waitFor(
    `${count} Ready node(s)`,
    async () => {
      alive()
      const list = await apis.core.listNode({ labelSelector: 'type=kwok' })
      const ready = list.items.filter((n) => wanted.includes(n.metadata?.name ?? '') && isNodeReady(n))
      return ready.length === wanted.length
    },
    { ...LOCAL_POLL, ...wait },
  )
  if (missing.length > 0) log.detail(`nodes: ${count} Ready in ${formatMs(performance.now() - started)}`)
  return wanted
}
