import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parse, stringify } from 'yaml'
import {
  AGE_KEY_FILE_MODE,
  ARGOCD_USER,
  ageSecret,
  gitConfigMap,
  ksopsPluginPath,
  type RepoServerPaths,
  repoServerPaths,
} from '../../argocd/settings.ts'
import { writeFileAtomicSync } from '../../core/atomic-file.ts'
import { BootstrapError, errorMessage } from '../../core/errors.ts'
import type { Run } from '../../core/exec.ts'
import type { Logger } from '../../runner/log.ts'
import { dataOf, type KubeApis } from '../kube.ts'
import { type LocalLayout, podRoot, servedReposDir } from '../layout.ts'
import { pkiPaths } from '../pki.ts'
import type { RunAs } from '../process/processes.ts'

/**
 * What a pod gives Argo CD's processes that a host process lacks: its image's user, a filesystem of
 * its own, Secrets and ConfigMaps mounted as root-owned files with the volume's mode. The local
 * provider lays these out under the node folder (layout.ts) so the local tier meets the permissions
 * kind meets: a wrong defaultMode, a repository git will not trust, fail here first.
 */

/**
 * Argo CD's processes run as its image's user (uid/gid 999, no other groups) when this run is root,
 * and the user is made if missing; run as another user, they run as that user.
 */
export async function argocdRunAs(run: Run, log: Logger): Promise<RunAs | undefined> {
  const uid = process.getuid?.()
  if (uid !== 0) {
    log.detail(
      `argocd: its processes run as you (uid ${uid}), not as its image's uid ${ARGOCD_USER.uid}: what that difference breaks (file modes, git's safe.directory) is proven only by a run as root, as in CI`,
    )
    return undefined
  }
  await ensureUser(run, log)
  return { uid: ARGOCD_USER.uid, gid: ARGOCD_USER.gid }
}

async function ensureUser(run: Run, log: Logger): Promise<void> {
  const { name, uid, gid } = ARGOCD_USER
  const exists = (db: string, id: number) =>
    run('getent', [db, String(id)]).then(
      () => true,
      () => false,
    )
  if (await exists('passwd', uid)) return
  try {
    if (!(await exists('group', gid))) await run('groupadd', ['--gid', String(gid), name])
    await run('useradd', [
      ...['--system', '--uid', String(uid), '--gid', String(gid), '--no-create-home'],
      ...['--home-dir', '/home/argocd', '--shell', '/usr/sbin/nologin', name],
    ])
  } catch (error) {
    throw new BootstrapError(
      `could not make user ${name} (uid ${uid}) to run Argo CD's processes as: ${errorMessage(error)}`,
      {
        hint: `make a user with uid ${uid} and gid ${gid} (\`useradd --system --uid ${uid} --gid ${gid} ${name}\`), or run as a user other than root`,
      },
    )
  }
  log.detail(
    `argocd: made user ${name} (uid ${uid}, gid ${gid}) to run Argo CD's processes as its image does`,
  )
}

/** The repo-server's paths (lib/argocd/settings.ts) inside its pod's root on the node; the served repositories are the node's. */
export function podRepoServerPaths(podRoot: string, servedRepos: string): RepoServerPaths {
  const inPod = (path: string) => join(podRoot, path)
  return {
    configHome: inPod(repoServerPaths.configHome),
    ageKeyDir: inPod(repoServerPaths.ageKeyDir),
    pluginHome: inPod(repoServerPaths.pluginHome),
    gitConfigDir: inPod(repoServerPaths.gitConfigDir),
    servedRepos,
  }
}

/** A folder the process's user owns, as its image or an emptyDir gives it (home, /tmp, /app/config/…). */
function ownedDir(dir: string, runAs: RunAs | undefined, mode = 0o700): string {
  // Its parents are the image's: root's, and open to every user (mkdir's mode would apply to them too).
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 })
  mkdirSync(dir, { recursive: true, mode })
  if (runAs) chownSync(dir, runAs.uid, runAs.gid)
  return dir
}

/** One key of a mounted Secret or ConfigMap, as the kubelet writes it: owned by root (here: this run), the volume's mode. */
function writeMounted(file: string, content: string | Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 })
  writeFileAtomicSync(file, content, mode)
}

/** One Argo CD process's filesystem: its root on the node, its home, and the files its configuration depends on. */
export interface Pod {
  root: string
  home: string
  /** Files whose content is part of its configuration: a change restarts it. */
  inputs: string[]
  kubeconfig?: string
}

/** The variables every Argo CD process gets from its image and pod, here pointing into its root. */
export function podEnv(pod: Pod): Record<string, string> {
  const config = join(pod.root, 'app', 'config')
  return {
    HOME: pod.home,
    // The image sets USER=argocd; Argo CD's processes run as it.
    USER: ARGOCD_USER.name,
    TMPDIR: join(pod.root, 'tmp'),
    ARGOCD_FAKE_IN_CLUSTER: 'true',
    // /app/config in the image: the TLS files the chart mounts (reposerver/, controller/, server/tls) are read below it.
    ARGOCD_APP_CONF_PATH: config,
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
 * values mount them (lib/argocd/settings.ts), root-owned with the volumes' modes, and the KSOPS
 * stand-in where the init containers put KSOPS.
 */
export async function repoServerPod(
  apis: KubeApis,
  layout: LocalLayout,
  namespace: string,
  runAs: RunAs | undefined,
  standin: string,
): Promise<Pod & { paths: RepoServerPaths }> {
  const pod = basePod(layout, 'argocd-repo-server', runAs)
  const paths = podRepoServerPaths(pod.root, servedReposDir(layout))
  const key = (await readOrExplain(apis, 'Secret', namespace, ageSecret.secret, '03'))[ageSecret.key]
  if (!key)
    throw new BootstrapError(`Secret ${namespace}/${ageSecret.secret} has no key ${ageSecret.key}`, {
      hint: 'run `just step 03 <env>` to write the cluster age key',
    })
  const ageKeyFile = join(paths.ageKeyDir, ageSecret.key)
  writeMounted(ageKeyFile, Buffer.from(key, 'base64'), AGE_KEY_FILE_MODE)
  const gitConfig = (await readOrExplain(apis, 'ConfigMap', namespace, gitConfigMap.name, '06'))[
    gitConfigMap.key
  ]
  const gitConfigFile = join(paths.gitConfigDir, gitConfigMap.key)
  writeMounted(gitConfigFile, gitConfig ?? '', 0o644)
  ownedDir(join(pod.root, 'helm-working-dir'), runAs)
  installKsopsStandin(standin, paths.pluginHome)
  // Its serving certificate from the local CA, where the chart mounts Secret argocd-repo-server-tls.
  const pki = pkiPaths(layout.pki)
  const tls = join(pod.root, 'app', 'config', 'reposerver', 'tls')
  writeMounted(join(tls, 'tls.crt'), readFileSync(pki.repoServer.cert), 0o644)
  writeMounted(join(tls, 'tls.key'), readFileSync(pki.repoServer.key), 0o600)
  if (runAs) chownSync(join(tls, 'tls.key'), runAs.uid, runAs.gid)
  return { ...pod, paths, inputs: [ageKeyFile, gitConfigFile, join(tls, 'tls.crt')] }
}

/** Where each client of the repo-server looks for its CA, below /app/config (Argo CD's cmd/ sources). */
const REPO_SERVER_CLIENT_DIR: Record<string, string> = {
  'argocd-application-controller': 'controller',
  'argocd-server': 'server',
}

/** The controller's and the server's pods: a kubeconfig in place of the ServiceAccount token, set to Argo CD's namespace as in-cluster config is. */
export async function clusterClientPod(
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
  // The CA its strict TLS checks the repo-server's certificate against (the chart's ca.crt mount).
  const ca = join(pod.root, 'app', 'config', REPO_SERVER_CLIENT_DIR[name] ?? name, 'tls', 'ca.crt')
  writeMounted(ca, readFileSync(pkiPaths(layout.pki).ca.cert), 0o644)
  return { ...pod, kubeconfig, inputs: [kubeconfig, ca] }
}

async function readOrExplain(
  apis: KubeApis,
  kind: 'Secret' | 'ConfigMap',
  namespace: string,
  name: string,
  step: string,
): Promise<Record<string, string>> {
  const data = await dataOf(apis.kube, kind, namespace, name)
  if (!data)
    throw new BootstrapError(`${kind} ${namespace}/${name} does not exist: Argo CD's repo-server mounts it`, {
      hint: `run \`just step ${step} <env>\`, which makes it`,
    })
  return data
}

/** Where the repo-server's init containers put KSOPS: the offline stand-in instead (see its header). */
function installKsopsStandin(source: string, pluginHome: string): void {
  if (!existsSync(source))
    throw new BootstrapError(`no KSOPS stand-in at ${source}: SOPS-encrypted generators would not build`)
  const target = ksopsPluginPath(pluginHome)
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 })
  // Replaced, not written into: the running repo-server may be executing it.
  writeFileAtomicSync(target, readFileSync(source), 0o755)
}
