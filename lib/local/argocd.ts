import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import {
  ApiextensionsV1Api,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { ksopsPluginPath, ksopsStandin } from '../argocd-settings.ts'
import { BootstrapError } from '../errors.ts'
import { formatMs, type Logger } from '../log.ts'
import { argocdCrdFiles as cachedArgocdCrdFiles } from '../tools/index.ts'
import { versions } from '../versions.ts'
import { localBinary } from './binaries.ts'
import { type Component, ensureComponent } from './component.ts'
import { applyObjects, kubeApis, pollUntil, statusOf } from './kube.ts'
import { localLayout } from './layout.ts'
import { LOOPBACK } from './ports.ts'
import { httpGet, tcpOpen } from './probe.ts'
import { Processes } from './processes.ts'

/**
 * Argo CD on the local cluster without its images: its real CRDs, redis (Debian's binary) and
 * the `argocd` binary run twice — as repo-server and as application-controller — with
 * ARGOCD_FAKE_IN_CLUSTER so https://kubernetes.default.svc is the kubeconfig's cluster
 * (shared/notes/tools.md). argocd-cm and argocd-secret are the caller's; the `default`
 * AppProject, which argocd-server would create and is not run here, is created here.
 */

/** In start order; stopped in reverse. */
export const ARGOCD_PROCESSES = ['redis', 'argocd-repo-server', 'argocd-application-controller'] as const

export const ARGOCD_CRDS = ['applications.argoproj.io', 'appprojects.argoproj.io'] as const

/** `$KUSTOMIZE_PLUGIN_HOME` of the local repo-server: the caller passes this in `env`. */
export function localKsopsPluginHome(stateDir: string): string {
  return localLayout(stateDir).ksopsPluginHome
}

export interface ArgoCDOptions {
  stateDir: string
  /** The cluster Argo CD manages as https://kubernetes.default.svc, and where its CRDs go. */
  kubeconfig: string
  namespace?: string
  /**
   * The repo-server's environment for this cluster: at least SOPS_AGE_KEY_FILE and
   * KUSTOMIZE_PLUGIN_HOME (lib/argocd-settings.ts, rewritten to local paths by the caller).
   */
  env: Record<string, string>
  log: Logger
  timeoutMs?: number
  /** Injectable for tests: the CRD manifests and the KSOPS stand-in to install. */
  crdFiles?: string[]
  ksopsStandin?: string
}

export interface ArgoCD {
  namespace: string
  /** 127.0.0.1:<port> of the repo-server (gRPC over TLS). */
  repoServer: string
  /** 127.0.0.1:<port> of redis. */
  redis: string
  reused: boolean
}

export async function ensureArgoCD(options: ArgoCDOptions): Promise<ArgoCD> {
  const { log, stateDir } = options
  const namespace = options.namespace ?? 'argocd'
  const timeoutMs = options.timeoutMs ?? 120_000
  const started = performance.now()
  for (const key of ['SOPS_AGE_KEY_FILE', 'KUSTOMIZE_PLUGIN_HOME']) {
    if (!options.env[key]) throw new BootstrapError(`ensureArgoCD: the repo-server environment lacks ${key}`)
  }
  const layout = localLayout(stateDir)
  const procs = new Processes(stateDir)
  const apis = kubeApis(options.kubeconfig)

  await applyCrds(apis, options.crdFiles ?? argocdCrdFiles(), timeoutMs)
  await applyObjects(apis, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }])
  await ensureDefaultProject(apis, namespace, log)
  log.detail(`argocd: CRDs, namespace and default project in ${formatMs(performance.now() - started)}`)

  await checkSettingsObjects(apis, namespace)
  installKsopsStandin(options.ksopsStandin ?? ksopsStandin, layout.ksopsPluginHome, options.env, log)

  const dirs = {
    home: join(layout.argocd, 'home'),
    tmp: join(layout.argocd, 'tmp'),
    tls: join(layout.argocd, 'tls'),
    ssh: join(layout.argocd, 'ssh'),
    gnupg: join(layout.argocd, 'gnupg'),
  }
  for (const dir of [layout.redis, ...Object.values(dirs)]) mkdirSync(dir, { recursive: true, mode: 0o700 })

  const argocd = localBinary('argocd')
  const common: Record<string, string> = {
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    ARGOCD_FAKE_IN_CLUSTER: 'true',
    ARGOCD_TLS_DATA_PATH: dirs.tls,
    ARGOCD_SSH_DATA_PATH: dirs.ssh,
    ARGOCD_GNUPGHOME: dirs.gnupg,
    ARGOCD_GPG_ENABLED: 'false',
  }

  const redis = await ensureComponent(procs, redisComponent(layout.redis), log)
  const redisAddress = `${LOOPBACK}:${redis.ports.port}`

  // v3.6 runs git-verify-wrapper.sh for every revision; without it syncs fail "permission denied".
  localBinary('git-verify-wrapper.sh')
  const repo = await ensureComponent<'grpc' | 'metrics'>(
    procs,
    {
      name: 'argocd-repo-server',
      portKeys: ['grpc', 'metrics'],
      spec: ({ grpc, metrics }) => ({
        command: argocd,
        args: [
          `--port=${grpc}`,
          `--address=${LOOPBACK}`,
          `--metrics-port=${metrics}`,
          `--metrics-address=${LOOPBACK}`,
          `--redis=${redisAddress}`,
        ],
        env: { ...common, ...options.env, ARGOCD_BINARY_NAME: 'argocd-repo-server' },
        cwd: dirs.home,
        inputs: [options.env.SOPS_AGE_KEY_FILE ?? ''],
      }),
      ready: async ({ grpc, metrics }) =>
        (await tcpOpen(grpc)) && (await httpGet(`http://${LOOPBACK}:${metrics}/healthz`)).status === 200,
      readyTimeoutMs: timeoutMs,
    },
    log,
  )
  const repoServer = `${LOOPBACK}:${repo.ports.grpc}`

  const controller = await ensureComponent<'metrics'>(
    procs,
    {
      name: 'argocd-application-controller',
      portKeys: ['metrics'],
      spec: ({ metrics }) => ({
        command: argocd,
        args: [
          `--redis=${redisAddress}`,
          `--repo-server=${repoServer}`,
          `--namespace=${namespace}`,
          // Argo CD binds its controller metrics on 0.0.0.0 whatever we say (controller/appcontroller.go).
          `--metrics-port=${metrics}`,
        ],
        env: {
          ...common,
          KUBECONFIG: options.kubeconfig,
          ARGOCD_BINARY_NAME: 'argocd-application-controller',
        },
        cwd: dirs.home,
        inputs: [options.kubeconfig],
      }),
      ready: async ({ metrics }) => (await httpGet(`http://${LOOPBACK}:${metrics}/healthz`)).status === 200,
      readyTimeoutMs: timeoutMs,
    },
    log,
  )

  const reused = [redis, repo, controller].every((c) => c.outcome === 'adopted')
  log.detail(`argocd: ${reused ? 'reused' : 'ready'} in ${formatMs(performance.now() - started)}`)
  return { namespace, repoServer, redis: redisAddress, reused }
}

function redisComponent(dir: string): Component<'port'> {
  return {
    name: 'redis',
    portKeys: ['port'],
    spec: ({ port }) => ({
      command: localBinary('redis-server'),
      args: [
        '--bind',
        LOOPBACK,
        '--port',
        String(port),
        '--protected-mode',
        'yes',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        // Keep /proc/<pid>/cmdline as started: that is how a running process is recognised.
        '--set-proc-title',
        'no',
      ],
      cwd: dir,
    }),
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
        if (statusOf(error) === 404) return undefined
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
  await pollUntil(
    `Argo CD CRDs established (${names.join(', ')})`,
    async () => {
      for (const name of names)
        if (!established(await ext.readCustomResourceDefinition({ name }))) return false
      return true
    },
    timeoutMs,
  )
}

/** The `default` AppProject as argocd-server makes it at start (server/server.go): anything goes. */
async function ensureDefaultProject(apis: ReturnType<typeof kubeApis>, namespace: string, log: Logger) {
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
    if (statusOf(error) !== 409) throw error
  }
}

function installKsopsStandin(
  source: string,
  pluginHome: string,
  env: Record<string, string>,
  log: Logger,
): void {
  if (resolve(env.KUSTOMIZE_PLUGIN_HOME ?? '') !== resolve(pluginHome)) {
    log.warn(
      `argocd: KUSTOMIZE_PLUGIN_HOME is not ${pluginHome}: the KSOPS stand-in installed there is not used`,
    )
  }
  if (!existsSync(source)) {
    log.warn(`argocd: no KSOPS stand-in at ${source}: SOPS-encrypted generators will not build`)
    return
  }
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
      if (statusOf(error) !== 404) throw error
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
