import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import {
  ApiextensionsV1Api,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node'
import { parse, parseAllDocuments, stringify } from 'yaml'
import {
  AGE_KEY_FILE_MODE,
  ARGOCD_USER,
  ageSecret,
  gitConfigMap,
  ksopsPluginPath,
  ksopsStandin,
  type RepoServerPaths,
  repoServerEnv,
} from '../argocd-settings.ts'
import { writeFileAtomicSync } from '../atomic-file.ts'
import { BootstrapError } from '../errors.ts'
import { type Run, run } from '../exec.ts'
import { formatMs, type Logger } from '../log.ts'
import { argocdCmdParamsConfigMap } from '../manifests.ts'
import { redactor } from '../redact.ts'
import { statusCode } from '../retry.ts'
import { argocdCrdFiles as cachedArgocdCrdFiles } from '../tools/index.ts'
import { versions } from '../versions.ts'
import { waitFor } from '../wait.ts'
import { localBinary } from './binaries.ts'
import { type ArgoCDProcess, envFromConfigMaps, REDIS_SECRET, unreadParams } from './chart-env.ts'
import { type Component, ensureComponent } from './component.ts'
import { applyObjects, type KubeApis, kubeApis, LOCAL_POLL } from './kube.ts'
import { type LocalLayout, localLayout, podRoot, servedReposDir } from './layout.ts'
import { argocdRunAs, ensureImage, ownedDir, podRepoServerPaths, writeMounted } from './pod.ts'
import { LOOPBACK, pickPorts } from './ports.ts'
import { httpGet, tcpOpen } from './probe.ts'
import { Processes, type RunAs } from './processes.ts'

/**
 * Argo CD on the local cluster without its images, as its Helm chart runs it: its real CRDs, redis
 * with the password of Secret argocd-redis (made once, as the chart's secret-init Job does), and the
 * `argocd` binary run three times — repo-server, application-controller, server — with
 * ARGOCD_FAKE_IN_CLUSTER so https://kubernetes.default.svc is the kubeconfig's cluster (Argo CD's
 * own local-development recipe does the same). Each process gets what its pod gets: the image's
 * user (pod.ts), a filesystem of its own under the node folder, the mounted Secrets and ConfigMaps, and the
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

export const ARGOCD_CRDS = ['applications.argoproj.io', 'appprojects.argoproj.io'] as const

/** What the repo-server runs besides git: Argo CD, kustomize and helm as in its image; sops for the KSOPS stand-in. */
const IMAGE_BINARIES = ['argocd', 'kustomize', 'helm', 'sops', 'git-verify-wrapper.sh'] as const

export interface ArgoCDOptions {
  stateDir: string
  /** The cluster Argo CD manages as https://kubernetes.default.svc, and where its CRDs go. */
  kubeconfig: string
  namespace?: string
  /** argocd-cmd-params-cm entries (lib/argocd-settings.ts argocdCmdParams), over the address presets. */
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
  /** 127.0.0.1:<port> of redis (password: Secret argocd-redis). */
  redis: string
  /** 127.0.0.1:<port> of argocd-server (plain HTTP and gRPC: server.insecure). */
  server: string
  /** The user the three Argo CD processes run as; unset: this run's user. */
  runAs?: RunAs
  reused: boolean
}

export async function ensureArgoCD(options: ArgoCDOptions): Promise<ArgoCD> {
  const { log, stateDir } = options
  const namespace = options.namespace ?? 'argocd'
  const timeoutMs = options.timeoutMs ?? 120_000
  const started = performance.now()
  const layout = localLayout(stateDir)
  const procs = new Processes(stateDir)
  const apis = kubeApis(options.kubeconfig)

  await applyCrds(apis, options.crdFiles ?? argocdCrdFiles(), timeoutMs, options.kubeconfig)
  await applyObjects(apis, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }])
  await ensureDefaultProject(apis, namespace, log)
  await checkSettingsObjects(apis, namespace)
  log.detail(`argocd: CRDs, namespace and default project in ${formatMs(performance.now() - started)}`)

  const runAs = await argocdRunAs(options.run ?? run, log)
  const ports = {
    redis: await portsOf(procs, 'redis', ['port']),
    repo: await portsOf(procs, 'argocd-repo-server', ['grpc', 'metrics']),
    controller: await portsOf(procs, 'argocd-application-controller', ['metrics']),
    server: await portsOf(procs, 'argocd-server', ['http', 'metrics']),
  }
  const redisAddress = `${LOOPBACK}:${ports.redis.port}`
  const repoServer = `${LOOPBACK}:${ports.repo.grpc}`
  const server = `${LOOPBACK}:${ports.server.http}`
  const params = {
    'redis.server': redisAddress,
    'repo.server': repoServer,
    // Loopback only: the chart's pods listen on their own network, these on the host's.
    'reposerver.listen.address': LOOPBACK,
    'server.listen.address': LOOPBACK,
    ...options.params,
  }
  const unread = unreadParams(params)
  if (unread.length)
    throw new BootstrapError(`argocd-cmd-params-cm: no Argo CD process reads ${unread.join(', ')}`, {
      hint: 'check the key against lib/local/chart-env.ts (recorded from the argo-cd chart) and fix argocdCmdParams in lib/argocd-settings.ts',
    })
  await applyObjects(apis, [argocdCmdParamsConfigMap(namespace, params)])
  const redisPassword = await ensureRedisSecret(apis, namespace, log)
  const maps = {
    cm: await configMapData(apis, namespace, 'argocd-cm'),
    params: await configMapData(apis, namespace, 'argocd-cmd-params-cm'),
  }

  const redis = await ensureComponent(procs, redisComponent(layout.redis, ports.redis, redisPassword), log)

  // Each process's pod, as the chart's pod specs lay them out.
  mkdirSync(layout.node, { recursive: true, mode: 0o755 })
  const pods = {
    repo: await repoServerPod(apis, layout, namespace, runAs, options.ksopsStandin ?? ksopsStandin),
    controller: await clusterClientPod(
      layout,
      'argocd-application-controller',
      options.kubeconfig,
      namespace,
      runAs,
    ),
    server: await clusterClientPod(layout, 'argocd-server', options.kubeconfig, namespace, runAs),
  }
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
        env: { ...env('argocd-repo-server', pods.repo), ...repoServerEnv(pods.repo.paths) },
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

  const components = await Promise.all([repo, controller, api])
  const reused = [redis, ...components].every((c) => c.outcome === 'adopted')
  log.detail(`argocd: ${reused ? 'reused' : 'ready'} in ${formatMs(performance.now() - started)}`)
  return { namespace, repoServer, redis: redisAddress, server, runAs, reused }
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

/** One Argo CD process's filesystem: its root on the node, its home, and the files its configuration depends on. */
interface Pod {
  root: string
  home: string
  /** Files whose content is part of its configuration: a change restarts it. */
  inputs: string[]
  kubeconfig?: string
}

/** The variables every Argo CD process gets from its image and pod, here pointing into its root. */
function podEnv(pod: Pod): Record<string, string> {
  const config = join(pod.root, 'app', 'config')
  return {
    HOME: pod.home,
    // The image sets USER=argocd; Argo CD's processes run as it.
    USER: ARGOCD_USER.name,
    TMPDIR: join(pod.root, 'tmp'),
    ARGOCD_FAKE_IN_CLUSTER: 'true',
    ARGOCD_TLS_DATA_PATH: join(config, 'tls'),
    ARGOCD_SSH_DATA_PATH: join(config, 'ssh'),
    ARGOCD_GNUPGHOME: join(config, 'gpg', 'keys'),
    ARGOCD_GPG_DATA_PATH: join(config, 'gpg', 'source'),
    // The image has gpg and an agent; this host need not. Commit signatures are not verified here.
    ARGOCD_GPG_ENABLED: 'false',
    ...(pod.kubeconfig ? { KUBECONFIG: pod.kubeconfig } : {}),
  }
}

function basePod(layout: LocalLayout, name: string, runAs: RunAs | undefined): Pod {
  const root = podRoot(layout, name)
  mkdirSync(root, { recursive: true, mode: 0o755 })
  const home = ownedDir(join(root, 'home', 'argocd'), runAs)
  ownedDir(join(root, 'tmp'), runAs)
  for (const dir of ['tls', 'ssh', join('gpg', 'keys'), join('gpg', 'source')])
    ownedDir(join(root, 'app', 'config', dir), runAs)
  return { root, home, inputs: [] }
}

/**
 * The repo-server's pod: the age key Secret and the git config ConfigMap written where the chart
 * values mount them (lib/argocd-settings.ts), root-owned with the volumes' modes, and the KSOPS
 * stand-in where the init containers put KSOPS.
 */
async function repoServerPod(
  apis: KubeApis,
  layout: LocalLayout,
  namespace: string,
  runAs: RunAs | undefined,
  standin: string,
): Promise<Pod & { paths: RepoServerPaths }> {
  const pod = basePod(layout, 'argocd-repo-server', runAs)
  const paths = podRepoServerPaths(pod.root, servedReposDir(layout))
  const key = (await readOrExplain(apis, 'Secret', namespace, ageSecret.secret, '03')).data?.[ageSecret.key]
  if (!key)
    throw new BootstrapError(`Secret ${namespace}/${ageSecret.secret} has no key ${ageSecret.key}`, {
      hint: 'run `just step 03 <env>` to write the cluster age key',
    })
  const ageKeyFile = join(paths.ageKeyDir, ageSecret.key)
  writeMounted(ageKeyFile, Buffer.from(key, 'base64'), AGE_KEY_FILE_MODE)
  const gitConfig = (await readOrExplain(apis, 'ConfigMap', namespace, gitConfigMap.name, '06')).data?.[
    gitConfigMap.key
  ]
  const gitConfigFile = join(paths.gitConfigDir, gitConfigMap.key)
  writeMounted(gitConfigFile, gitConfig ?? '', 0o644)
  ownedDir(join(pod.root, 'helm-working-dir'), runAs)
  installKsopsStandin(standin, paths.pluginHome)
  return { ...pod, paths, inputs: [ageKeyFile, gitConfigFile] }
}

/** The controller's and the server's pods: a kubeconfig in place of the ServiceAccount token, set to Argo CD's namespace as in-cluster config is. */
async function clusterClientPod(
  layout: LocalLayout,
  name: string,
  adminKubeconfig: string,
  namespace: string,
  runAs: RunAs | undefined,
): Promise<Pod> {
  const pod = basePod(layout, name, runAs)
  const config = parse(readFileSync(adminKubeconfig, 'utf8')) as {
    contexts?: { context: Record<string, unknown> }[]
  }
  for (const context of config.contexts ?? []) context.context.namespace = namespace
  const kubeconfig = join(pod.root, 'var', 'run', 'kubeconfig')
  mkdirSync(dirname(kubeconfig), { recursive: true, mode: 0o755 })
  writeFileAtomicSync(kubeconfig, stringify(config), 0o600)
  if (runAs) chownSync(kubeconfig, runAs.uid, runAs.gid)
  return { ...pod, kubeconfig, inputs: [kubeconfig] }
}

async function readOrExplain(
  apis: KubeApis,
  kind: 'Secret' | 'ConfigMap',
  namespace: string,
  name: string,
  step: string,
): Promise<{ data?: Record<string, string> }> {
  try {
    return kind === 'Secret'
      ? await apis.core.readNamespacedSecret({ name, namespace })
      : await apis.core.readNamespacedConfigMap({ name, namespace })
  } catch (error) {
    if (statusCode(error) !== 404) throw error
    throw new BootstrapError(`${kind} ${namespace}/${name} does not exist: Argo CD's repo-server mounts it`, {
      hint: `run \`just step ${step} <env>\`, which makes it`,
    })
  }
}

async function configMapData(
  apis: KubeApis,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  return (await apis.core.readNamespacedConfigMap({ name, namespace })).data ?? {}
}

/** Secret argocd-redis / auth, made once when absent and never replaced, as the chart's redis-secret-init Job does. */
async function ensureRedisSecret(apis: KubeApis, namespace: string, log: Logger): Promise<string> {
  const read = async () =>
    (
      await apis.core.readNamespacedSecret({ name: REDIS_SECRET.name, namespace }).catch((error: unknown) => {
        if (statusCode(error) === 404) return undefined
        throw error
      })
    )?.data?.[REDIS_SECRET.key]
  let auth = await read()
  if (!auth) {
    const password = randomBytes(24).toString('base64url')
    redactor.add(password)
    await apis.core
      .createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: REDIS_SECRET.name, namespace, labels: { 'app.kubernetes.io/part-of': 'argocd' } },
          type: 'Opaque',
          data: { [REDIS_SECRET.key]: Buffer.from(password).toString('base64') },
        },
      })
      .catch((error: unknown) => {
        if (statusCode(error) !== 409) throw error
      })
    auth = await read()
    log.detail(`argocd: made Secret ${namespace}/${REDIS_SECRET.name} (the redis password)`)
  }
  if (!auth)
    throw new BootstrapError(`Secret ${namespace}/${REDIS_SECRET.name} has no key ${REDIS_SECRET.key}`)
  const password = Buffer.from(auth, 'base64').toString()
  redactor.add(password)
  return password
}

/**
 * redis as the chart runs it, with `requirepass` — from a 0600 config file here, not the command
 * line: on a host every user can read every process's command line.
 */
function redisComponent(dir: string, ports: { port: number }, password: string): Component<'port'> {
  const config = join(dir, 'redis.conf')
  return {
    name: 'redis',
    portKeys: ['port'],
    fixedPorts: ports,
    spec: ({ port }) => {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      writeFileAtomicSync(
        config,
        [
          `bind ${LOOPBACK}`,
          `port ${port}`,
          'protected-mode yes',
          `requirepass ${password}`,
          'save ""',
          'appendonly no',
          `dir ${dir}`,
          'daemonize no',
          // Keep /proc/<pid>/cmdline as started: that is how a running process is recognised.
          'set-proc-title no',
          '',
        ].join('\n'),
        0o600,
      )
      return { command: localBinary('redis-server'), args: [config], cwd: dir, inputs: [config] }
    },
    ready: async ({ port }) => tcpOpen(port),
    readyTimeoutMs: 15_000,
  }
}

/** Argo CD's own CRD manifests: the tools cache's copy, else the Go module cache's. */
export function argocdCrdFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  try {
    return cachedArgocdCrdFiles(env)
  } catch (notCached) {
    const gomodcache = env.GOMODCACHE || join(env.GOPATH || join(env.HOME ?? '', 'go'), 'pkg', 'mod')
    const crds = join(
      gomodcache,
      'github.com',
      'argoproj',
      'argo-cd',
      `v3@${versions.argocd}`,
      'manifests',
      'crds',
    )
    const files = ['application-crd.yaml', 'appproject-crd.yaml'].map((name) => join(crds, name))
    if (files.every((file) => existsSync(file))) return files
    throw notCached
  }
}

/** Marks a CRD with the hash of the manifest file last applied, so an unchanged one is not parsed and sent again. */
const CRD_HASH_ANNOTATION = 'platform-bootstrap.local/manifest-sha256'

async function applyCrds(
  apis: ReturnType<typeof kubeApis>,
  files: string[],
  timeoutMs: number,
  kubeconfig: string,
): Promise<void> {
  const ext = apis.kc.makeApiClient(ApiextensionsV1Api)
  const established = (crd: V1CustomResourceDefinition) =>
    crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
  const names: string[] = []
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    const hash = createHash('sha256').update(text).digest('hex')
    // Parsing the 400 kB Application CRD takes most of a second: read its name and hash first.
    const name = /^metadata:\n(?:[ \t]+.*\n)*?[ \t]{2}name:[ \t]*(\S+)/m.exec(text)?.[1]
    if (name) {
      names.push(name)
      const current = await ext.readCustomResourceDefinition({ name }).catch((error: unknown) => {
        if (statusCode(error) === 404) return undefined
        throw error
      })
      if (current?.metadata?.annotations?.[CRD_HASH_ANNOTATION] === hash && established(current)) continue
    }
    const objects = parseAllDocuments(text)
      .map((doc) => doc.toJS() as KubernetesObject | null)
      .filter((object): object is KubernetesObject => object?.kind === 'CustomResourceDefinition')
      .map((object) => ({
        ...object,
        metadata: {
          ...object.metadata,
          annotations: { ...object.metadata?.annotations, [CRD_HASH_ANNOTATION]: hash },
        },
      }))
    await applyObjects(apis, objects)
    for (const object of objects)
      if (!names.includes(object.metadata.name ?? '')) names.push(object.metadata.name ?? '')
  }
  await waitFor(
    `Argo CD CRDs established (${names.join(', ')})`,
    async () => {
      for (const name of names)
        if (!established(await ext.readCustomResourceDefinition({ name }))) return false
      return true
    },
    {
      ...LOCAL_POLL,
      timeoutMs,
      hint: `their conditions say why: \`kubectl --kubeconfig ${kubeconfig} get crd ${names.join(' ')} -o yaml\``,
    },
  )
}

/**
 * The `default` AppProject as argocd-server makes it at start (server/server.go): anything goes.
 * argocd-server makes it too, but only once it runs, after the controller: made here first, so no
 * Application ever meets a missing project (the controller then waits for its retry to look again).
 */
async function ensureDefaultProject(apis: KubeApis, namespace: string, log: Logger) {
  const project = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AppProject',
    metadata: { name: 'default', namespace },
    spec: {
      sourceRepos: ['*'],
      destinations: [{ server: '*', namespace: '*' }],
      clusterResourceWhitelist: [{ group: '*', kind: '*' }],
    },
  }
  try {
    await apis.objects.create(project)
    log.detail(`argocd: created AppProject ${namespace}/default`)
  } catch (error) {
    if (statusCode(error) !== 409) throw error
  }
}

/** Where the repo-server's init containers put KSOPS: the offline stand-in instead (see its header). */
function installKsopsStandin(source: string, pluginHome: string): void {
  if (!existsSync(source))
    throw new BootstrapError(`no KSOPS stand-in at ${source}: SOPS-encrypted generators would not build`)
  const target = ksopsPluginPath(pluginHome)
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 })
  copyFileSync(source, target)
  chmodSync(target, 0o755)
}

/**
 * argocd-cm and argocd-secret are the caller's, but without them — or without the label Argo CD's
 * informers select on (util/settings/settings.go: app.kubernetes.io/part-of=argocd) — the
 * controller exits at once with `configmap "argocd-cm" not found`. Said here, plainly.
 */
async function checkSettingsObjects(apis: ReturnType<typeof kubeApis>, namespace: string): Promise<void> {
  const objects = [
    {
      kind: 'ConfigMap',
      name: 'argocd-cm',
      read: () => apis.core.readNamespacedConfigMap({ name: 'argocd-cm', namespace }),
    },
    {
      kind: 'Secret',
      name: 'argocd-secret',
      read: () => apis.core.readNamespacedSecret({ name: 'argocd-secret', namespace }),
    },
  ]
  for (const object of objects) {
    let labels: Record<string, string> | undefined
    try {
      labels = (await object.read()).metadata?.labels
    } catch (error) {
      if (statusCode(error) !== 404) throw error
      throw new BootstrapError(
        `${object.kind} ${namespace}/${object.name} does not exist: Argo CD cannot start without it`,
        {
          hint: 'the runbook creates argocd-cm and argocd-secret before ensureArgoCD',
        },
      )
    }
    if (labels?.['app.kubernetes.io/part-of'] !== 'argocd') {
      throw new BootstrapError(
        `${object.kind} ${namespace}/${object.name} lacks the label app.kubernetes.io/part-of=argocd: Argo CD does not see it`,
        {
          hint: 'label it app.kubernetes.io/part-of: argocd (Argo CD only watches settings objects with that label)',
        },
      )
    }
  }
}
