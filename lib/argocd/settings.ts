import { join } from 'node:path'
// One module per kind (see manifests.ts).
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Container } from 'kubernetes-models/v1/Container'
import { EnvVar } from 'kubernetes-models/v1/EnvVar'
import { Volume } from 'kubernetes-models/v1/Volume'
import { VolumeMount } from 'kubernetes-models/v1/VolumeMount'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { versions } from '../core/versions.ts'

/**
 * The Argo CD settings KSOPS needs, described once: the Helm chart values on kind and
 * existing clusters and the local provider's argocd-cm and repo-server processes both read them
 * from here, so the two tiers cannot drift apart.
 */

/** The cluster age key Secret in the Argo CD namespace (made by the runbook before Argo CD starts). */
export const ageSecret = { secret: 'ksops-age-key', key: 'age.agekey' } as const

/** Where the repo-server finds things inside its container. */
export interface RepoServerPaths {
  /** XDG_CONFIG_HOME: keeps sops's config lookup under the argocd user's home. */
  configHome: string
  /** The directory the age key Secret is mounted as; the key file is `<ageKeyDir>/age.agekey`. */
  ageKeyDir: string
  /** KUSTOMIZE_PLUGIN_HOME: kustomize finds KSOPS at `<pluginHome>/viaduct.ai/v1/ksops/ksops`. */
  pluginHome: string
  /** The directory the git config ConfigMap is mounted as; GIT_CONFIG_GLOBAL names the file in it. */
  gitConfigDir: string
  /** The served checkout's repositories (dev on kind: a node folder mounted at the same path). */
  servedRepos: string
}

export const repoServerPaths: RepoServerPaths = {
  configHome: '/home/argocd/.config',
  ageKeyDir: '/home/argocd/.config/sops/age',
  pluginHome: '/home/argocd/ksops-plugin',
  gitConfigDir: '/app/config/git',
  servedRepos: '/gitops-repos',
}

/**
 * The user Argo CD's image runs every process as (its Dockerfile: `useradd -u 999 -g argocd
 * argocd`, `USER 999`). The local provider runs the processes as this user too when it can.
 */
export const ARGOCD_USER = { name: 'argocd', uid: 999, gid: 999 } as const

/**
 * Mode of the age key file in the repo-server: the Secret volume's defaultMode. 0444, because the
 * repo-server runs as argocd (uid 999) and the kubelet writes the file as root: 0400 would leave
 * KSOPS unable to read it ("decryption failed"). The local provider writes its copy the same way.
 */
export const AGE_KEY_FILE_MODE = 0o444

/** The repo-server's global git config, mounted from this ConfigMap (see repoServerGitConfig). */
export const gitConfigMap = { name: 'argocd-repo-server-gitconfig', key: 'gitconfig' } as const

/** Both tiers' paths for one served repository: the worktree and its .git (see repoServerGitConfig). */
export function servedRepoDirs(repoNames: string[], paths: RepoServerPaths = repoServerPaths): string[] {
  return repoNames.flatMap((name) => [join(paths.servedRepos, name), join(paths.servedRepos, name, '.git')])
}

/**
 * The repo-server's global git config. It runs as argocd (uid 999) and fetches the served
 * repositories, which belong to whoever ran create; git refuses a repository another user owns
 * ("detected dubious ownership", exit 128) unless safe.directory names it in system or global
 * config. `-c` and GIT_CONFIG_* variables do not reach the upload-pack git starts for a local
 * fetch, Argo CD runs git with HOME=/dev/null (so no ~/.gitconfig), and its image sets nothing
 * (argoproj/argo-cd#19727): hence a file named by GIT_CONFIG_GLOBAL. The worktree and its .git
 * are both named because git versions differ in which of the two they check.
 */
export function repoServerGitConfig(
  servedRepoNames: string[],
  paths: RepoServerPaths = repoServerPaths,
): string {
  const lines = [
    "# The repo-server's global git config, made by platform-bootstrap (lib/argocd/settings.ts).",
    '# safe.directory: the served repositories belong to another user than the repo-server.',
    '[safe]',
    ...servedRepoDirs(servedRepoNames, paths).map((dir) => `\tdirectory = ${dir}`),
  ]
  return `${lines.join('\n')}\n`
}

/** KSOPS as a legacy exec plugin, relative to KUSTOMIZE_PLUGIN_HOME: `<group>/<version>/<lowercased kind>/<kind>`. */
const KSOPS_PLUGIN_DIR = 'viaduct.ai/v1/ksops'
export const ksopsPluginRelPath = `${KSOPS_PLUGIN_DIR}/ksops`

export function ksopsPluginPath(pluginHome: string): string {
  return join(pluginHome, ksopsPluginRelPath)
}

/** The offline stand-in the local provider installs at ksopsPluginPath (not KSOPS: see its header). */
export const ksopsStandin = join(repoRoot, 'lib', 'local', 'ksops-standin.sh')

/**
 * argocd-cm entries. `kustomize.buildOptions` belongs here and not in argocd-cmd-params-cm: Argo CD
 * reads it only from argocd-cm, and in the wrong map it is silently ignored.
 */
export const argocdCm: Readonly<Record<string, string>> = {
  'kustomize.buildOptions': '--enable-alpha-plugins --enable-exec',
  // Argo CD 1.8 dropped the health of Application objects. Without it the root App of Apps does
  // not wait for one wave's child Applications before the next wave, and the sync waves in
  // gitops/apps would order nothing but the creation of Application objects. A child counts as
  // done only when Synced, Healthy and with no operation requested or running: Healthy alone let
  // the next wave start while a child was still syncing (an Application created before the
  // AppProject its predecessor was about to make).
  'resource.customizations.health.argoproj.io_Application': [
    'hs = {}',
    'hs.status = "Progressing"',
    'hs.message = ""',
    'if obj.operation ~= nil then',
    '  hs.message = "an operation is requested"',
    '  return hs',
    'end',
    'if obj.status == nil then',
    '  return hs',
    'end',
    'if obj.status.operationState ~= nil and obj.status.operationState.phase == "Running" then',
    '  hs.message = "an operation is running"',
    '  return hs',
    'end',
    'if obj.status.health ~= nil and obj.status.health.status ~= "Healthy" then',
    '  hs.status = obj.status.health.status',
    '  if obj.status.health.message ~= nil then',
    '    hs.message = obj.status.health.message',
    '  end',
    '  return hs',
    'end',
    'if obj.status.sync == nil or obj.status.sync.status ~= "Synced" then',
    '  hs.message = "not synced to its target yet"',
    '  return hs',
    'end',
    'if obj.status.health ~= nil then',
    '  hs.status = obj.status.health.status',
    'end',
    'return hs',
    '',
  ].join('\n'),
}

/**
 * The sync options every Application of this platform carries: the root and each tenant's (made
 * here) and those in gitops/apps (tests/unit/gitops.test.ts holds them to it).
 *
 * - ServerSideApply=true: a synced Secret never gets a last-applied-configuration annotation
 *   holding its value.
 * - Validate=false: Argo CD's client-side check is kubectl's (gitops-engine newApplyOptions →
 *   kubectl v0.37 Factory.Validator). On an API server with field validation (GA in Kubernetes
 *   1.27) it checks nothing itself: it asks whether the server supports the fieldValidation
 *   parameter, parsing that group-version's OpenAPI v3 document anew for every object applied —
 *   half of Argo CD's controller CPU in a 100-tenant create here (perf). The API server checks the
 *   same either way: Argo CD sends it no fieldValidation directive with or without the option. An
 *   older server would lose the client-side check.
 */
export const APPLICATION_SYNC_OPTIONS: readonly string[] = ['ServerSideApply=true', 'Validate=false']

/** argocd-cmd-params-cm entries (ConfigMap values are strings; the chart takes the boolean). */
export const argocdCmdParams: Readonly<Record<string, string>> = {
  'server.insecure': 'true',
  // Argo CD pauses 2 s after every sync wave (argo-cd controller/sync.go), only to give other
  // controllers a chance to react before health is judged. The App of Apps' waves hold Application
  // objects, whose health comes from Argo CD's own controller (argocdCm's health check), and a
  // chart's Deployments are judged by observedGeneration, so a stale status is not read as healthy
  // either way. One second still gives a CRD time to be established before the next wave uses it;
  // the four waves of a first create then cost 4 s instead of 8. Not 0: with no pause the wave is
  // judged at once, is not healthy yet, and Argo CD looks again only after its 5 s batching window.
  'controller.sync.wave.delay.seconds': '1',
}

/**
 * The repo-server's own variables: the three KSOPS needs (miss one and syncs fail "decryption
 * failed" or "plugin not found") and the git config that lets it read the served repositories.
 */
export function repoServerEnv(paths: RepoServerPaths = repoServerPaths): Record<string, string> {
  return {
    SOPS_AGE_KEY_FILE: join(paths.ageKeyDir, ageSecret.key),
    XDG_CONFIG_HOME: paths.configHome,
    KUSTOMIZE_PLUGIN_HOME: paths.pluginHome,
    GIT_CONFIG_GLOBAL: join(paths.gitConfigDir, gitConfigMap.key),
  }
}

export interface HelmValuesOptions {
  /** The image the init containers copy KSOPS from; defaults to the pin in lib/core/versions.ts. */
  ksopsImage?: string
  /** Argo CD's namespace: where the git config ConfigMap goes (default argocd). */
  namespace?: string
  /**
   * dev on kind: the served checkout's repositories, in the node folder `repoServerPaths.servedRepos`,
   * mounted read-only into the repo-server at the same path so `file://<path>/<repo>` URLs resolve
   * there, and trusted by its git config.
   */
  servedRepoNames?: string[]
}

/** The ConfigMap the repo-server's git config is mounted from: in the Helm release on kind, applied by the runbook on local. */
export function repoServerGitConfigMap(
  namespace: string,
  servedRepoNames: string[],
  paths: RepoServerPaths = repoServerPaths,
): ConfigMap {
  const configMap = new ConfigMap({
    metadata: {
      name: gitConfigMap.name,
      namespace,
      labels: { 'app.kubernetes.io/part-of': 'argocd' },
    },
    data: { [gitConfigMap.key]: repoServerGitConfig(servedRepoNames, paths) },
  })
  configMap.validate()
  return configMap
}

const CUSTOM_TOOLS = 'custom-tools'
const AGE_KEY_VOLUME = 'sops-age-key'
const GIT_CONFIG_VOLUME = 'git-config'
const SERVED_REPOS_VOLUME = 'served-repos'

/**
 * The argo-cd chart values for kind and existing clusters: KSOPS laid down by init
 * containers into an emptyDir, both as a flat `ksops` (what a KRM-style generator runs from PATH)
 * and as `plugin/viaduct.ai/v1/ksops/ksops` (the legacy exec plugin the overlays use, found
 * through KUSTOMIZE_PLUGIN_HOME); the age key Secret mounted as a directory; the git config
 * ConfigMap (made by the release itself, through extraObjects) mounted as one; the env vars; the
 * build options in argocd-cm.
 */
export function helmValues(opts: HelmValuesOptions = {}): Record<string, unknown> {
  const image = opts.ksopsImage ?? versions.images.ksopsInit
  assertKsopsInstallable(image)
  const served = opts.servedRepoNames ?? []

  const volumes = [
    new Volume({ name: CUSTOM_TOOLS, emptyDir: {} }),
    new Volume({
      name: AGE_KEY_VOLUME,
      secret: { secretName: ageSecret.secret, defaultMode: AGE_KEY_FILE_MODE },
    }),
    new Volume({ name: GIT_CONFIG_VOLUME, configMap: { name: gitConfigMap.name } }),
  ]
  const volumeMounts = [
    new VolumeMount({ name: CUSTOM_TOOLS, mountPath: '/usr/local/bin/ksops', subPath: 'ksops' }),
    new VolumeMount({ name: CUSTOM_TOOLS, mountPath: repoServerPaths.pluginHome, subPath: 'plugin' }),
    new VolumeMount({ name: AGE_KEY_VOLUME, mountPath: repoServerPaths.ageKeyDir, readOnly: true }),
    new VolumeMount({ name: GIT_CONFIG_VOLUME, mountPath: repoServerPaths.gitConfigDir, readOnly: true }),
  ]
  if (served.length) {
    const path = repoServerPaths.servedRepos
    volumes.push(new Volume({ name: SERVED_REPOS_VOLUME, hostPath: { path, type: 'Directory' } }))
    volumeMounts.push(new VolumeMount({ name: SERVED_REPOS_VOLUME, mountPath: path, readOnly: true }))
  }
  const env = Object.entries(repoServerEnv()).map(([name, value]) => new EnvVar({ name, value }))
  const initContainers = ksopsInitContainers(image)
  const gitConfig = repoServerGitConfigMap(opts.namespace ?? 'argocd', served)

  for (const model of [...initContainers, ...volumes, ...volumeMounts, ...env, gitConfig]) model.validate()
  const plain = (models: unknown[]) => JSON.parse(JSON.stringify(models)) as unknown[]

  return {
    // The chart's newest release ships an older Argo CD; the image tag pins the same Argo CD
    // the local tier runs as processes, so both tiers prove one version.
    global: { image: { tag: versions.argocd } },
    // The chart enables dex, and Argo CD v3.6 then starts it: one more image to pull and one more pod
    // that can fail, for SSO no environment configures. Off.
    dex: { enabled: false },
    // The chart's CRDs are its own appVersion's, older than versions.argocd (Application lacks fields
    // the controller writes): step 06 applies the CRDs of the version that runs instead.
    crds: { install: false },
    configs: {
      cm: { ...argocdCm },
      params: { ...argocdCmdParams, 'server.insecure': argocdCmdParams['server.insecure'] === 'true' },
    },
    controller: { readinessProbe: READINESS },
    server: { readinessProbe: READINESS },
    repoServer: {
      readinessProbe: READINESS,
      initContainers: plain(initContainers),
      volumes: plain(volumes),
      volumeMounts: plain(volumeMounts),
      env: plain(env),
    },
    extraObjects: plain([gitConfig]),
  }
}

/**
 * The chart's readiness probes start 10 s after a container and look every 10 s, so a component
 * up in 2 s is reported ready 10–20 s later and everything waiting on it (step 06, the
 * repo-server's Service endpoints the controller dials) waits with it. Looked at from 1 s and every
 * 2 s instead; 15 failures in a row (the same 30 s as the chart's 3 × 10 s) before a busy
 * repo-server is taken out of its Service.
 */
const READINESS = { initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 15 }

/**
 * Two init containers copy KSOPS out of its own image instead of downloading a release from GitHub
 * at pod start: the pinned image already holds the binary, so no network fetch at pod start and
 * no second pin to keep in step. The image is distroless (no /bin/sh, no cp since v4.4.0), so each
 * container runs `ksops install <dir>`, which copies the running binary to `<dir>/ksops`. The second
 * mounts the emptyDir at `plugin/viaduct.ai/v1/ksops`: the kubelet creates that missing subPath with
 * the emptyDir's mode (0777), so the unprivileged container can write there. Seed 000's security
 * context: the copy needs no root, no capability and no privilege escalation.
 */
function ksopsInitContainers(image: string): Container[] {
  const securityContext = {
    runAsNonRoot: true,
    runAsUser: 65534,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' as const },
  }
  const install = (name: string, subPath?: string) =>
    new Container({
      name,
      image,
      command: ['/usr/local/bin/ksops', 'install', '/custom-tools'],
      volumeMounts: [{ name: CUSTOM_TOOLS, mountPath: '/custom-tools', ...(subPath ? { subPath } : {}) }],
      securityContext,
    })
  return [install('install-ksops'), install('install-ksops-plugin', `plugin/${KSOPS_PLUGIN_DIR}`)]
}

/** `ksops install` exists from KSOPS v4.5.0; v4.4.0's image has neither it nor a shell to copy with. */
export function assertKsopsInstallable(image: string): void {
  const tag = /:v?(\d+)\.(\d+)\.(\d+)(?:[-+@].*)?$/.exec(image)
  const [major, minor] = tag ? [Number(tag[1]), Number(tag[2])] : [Number.NaN, Number.NaN]
  if (major > 4 || (major === 4 && minor >= 5)) return
  throw new BootstrapError(`KSOPS image ${image} cannot install KSOPS into the Argo CD repo-server`, {
    hint:
      'KSOPS images from v4.4.0 are distroless (no /bin/sh, so nothing to copy the binary with) and `ksops install` ' +
      'only exists from v4.5.0: pin versions.images.ksopsInit in lib/core/versions.ts to viaductoss/ksops:v4.5.1 or later',
    exitCode: 2,
  })
}
