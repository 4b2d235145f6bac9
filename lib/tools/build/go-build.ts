import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import { versions } from '../../core/versions.ts'
import { ARGOCD_CRDS, K8S_CMDS } from '../catalogue.ts'
import { appendLog, copyInto, type Job, StepFailed, step } from '../job.ts'
import { argocdReplaceArgs, goModRequire, kubernetesReplaceArgs, parseGoModReplaces } from './go-mod.ts'

/**
 * Building tools from Go modules (the Go module proxy): `go install`, or a wrapper module that
 * pins another module's dependencies, with the version stamps upstream's own builds set.
 */

const KWOK_STAGE_DIRS = ['node/fast', 'node/heartbeat', 'pod/fast']

function goEnv(toolchain?: string): NodeJS.ProcessEnv {
  // CGO off: static binaries, no C toolchain needed. GOWORK off: a go.work above the scratch dir must not leak in.
  return { CGO_ENABLED: '0', GOWORK: 'off', ...(toolchain ? { GOTOOLCHAIN: toolchain } : {}) }
}

export async function requireGo(job: Job): Promise<void> {
  const result = await job.deps.run('go', ['version'], { env: job.deps.env })
  appendLog(job, `$ go version\n${result.stdout}${result.stderr}`)
  if (result.exitCode === 0) return
  throw new BootstrapError(
    `${job.tool.name} ${job.tool.version} is built from Go modules, but \`go version\` failed`,
    {
      hint: 'is go installed and on PATH? install Go >= 1.26 (Debian: apt-get install golang-go, or https://go.dev/dl), then run `just tools` again',
    },
  )
}

export async function goInstall(
  job: Job,
  pkgAtVersion: string,
  options: { toolchain?: string; ldflags?: string } = {},
) {
  await requireGo(job)
  const args = [
    'install',
    '-trimpath',
    ...(options.ldflags ? [`-ldflags=${options.ldflags}`] : []),
    pkgAtVersion,
  ]
  await step(job, 'go', args, { env: { ...goEnv(options.toolchain), GOBIN: job.stage } })
  return `go install ${pkgAtVersion}`
}

interface ModuleInfo {
  GoMod: string
  Dir: string
}

/** Puts a module's zip in the Go module cache and says where its go.mod and files are. */
export async function downloadModule(
  job: Job,
  moduleAtVersion: string,
  toolchain?: string,
): Promise<ModuleInfo> {
  const result = await step(job, 'go', ['mod', 'download', '-json', moduleAtVersion], {
    env: goEnv(toolchain),
  })
  const info = JSON.parse(result.stdout) as Partial<ModuleInfo> & { Error?: string }
  if (info.Error || !info.GoMod || !info.Dir) {
    throw new StepFailed(
      `go mod download ${moduleAtVersion}: ${info.Error ?? 'no GoMod/Dir in its answer'}`,
      1,
    )
  }
  return { GoMod: info.GoMod, Dir: info.Dir }
}

/** A scratch module whose only job is to pin another module's dependencies and build its commands. */
export async function initWrapperModule(job: Job, toolchain?: string): Promise<string> {
  const dir = join(job.work, 'module')
  mkdirSync(dir, { recursive: true })
  await step(job, 'go', ['mod', 'init', `platform-bootstrap.local/build/${job.tool.name}`], {
    cwd: dir,
    env: goEnv(toolchain),
  })
  return dir
}

function buildDate(job: Job): string {
  return new Date(job.deps.now()).toISOString().replace(/\.\d+Z$/, 'Z')
}

export async function buildKubernetes(job: Job): Promise<string> {
  return buildKubernetesCommands(job, K8S_CMDS, job.stage)
}

/**
 * Kubernetes commands at `job.tool.version` into `outDir`: the control plane for the tools cache,
 * kubeadm/kubelet/kube-proxy for the offline kind node image (lib/tools/kind-images). One wrapper
 * module recipe, so the Go build cache serves both.
 */
export async function buildKubernetesCommands(job: Job, cmds: string[], outDir: string): Promise<string> {
  await requireGo(job)
  const version = job.tool.version
  const mod = await initWrapperModule(job)
  const info = await downloadModule(job, `k8s.io/kubernetes@${version}`)
  // k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with in-repo paths.
  const replaces = kubernetesReplaceArgs(readFileSync(info.GoMod, 'utf8'), version)
  await step(job, 'go', ['mod', 'edit', ...replaces], { cwd: mod, env: goEnv() })
  const pkgs = cmds.map((cmd) => `k8s.io/kubernetes/cmd/${cmd}`)
  await step(job, 'go', ['get', ...pkgs.map((pkg) => `${pkg}@${version}`)], { cwd: mod, env: goEnv() })
  const [major = '1', minor = '0'] = version.replace(/^v/, '').split('.')
  // The same stamps as upstream's hack/lib/version.sh, so `--version` and the user agent say v1.x.y.
  const stamps = {
    gitVersion: version,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: 'clean',
    buildDate: buildDate(job),
  }
  const ldflags = ['-s', '-w']
  for (const pkg of ['k8s.io/client-go/pkg/version', 'k8s.io/component-base/version']) {
    for (const [key, value] of Object.entries(stamps)) ldflags.push(`-X ${pkg}.${key}=${value}`)
  }
  await step(
    job,
    'go',
    ['build', '-trimpath', `-ldflags=${ldflags.join(' ')}`, '-o', `${outDir}/`, ...pkgs],
    {
      cwd: mod,
      env: goEnv(),
    },
  )
  return `wrapper module over k8s.io/kubernetes@${version} (${replaces.length} staging replaces)`
}

export async function buildEtcd(job: Job): Promise<string> {
  await requireGo(job)
  const mod = await initWrapperModule(job)
  const pkg = 'go.etcd.io/etcd/server/v3'
  await step(job, 'go', ['get', `${pkg}@${job.tool.version}`], { cwd: mod, env: goEnv() })
  await step(job, 'go', ['build', '-trimpath', '-o', join(job.stage, 'etcd'), pkg], {
    cwd: mod,
    env: goEnv(),
  })
  return `wrapper module over ${pkg}@${job.tool.version}`
}

export async function buildHelm(job: Job): Promise<string> {
  await requireGo(job)
  const version = job.tool.version
  const module = `helm.sh/helm/${version.split('.')[0]}`
  const info = await downloadModule(job, `${module}@${version}`)
  // A plain `go install` leaves helm saying "v3.22" and, worse, defaulting Capabilities.KubeVersion to
  // v1.20, which charts with a kubeVersion constraint reject. Stamp both the way helm's Makefile does.
  const clientGo = goModRequire(readFileSync(info.GoMod, 'utf8'), 'k8s.io/client-go') ?? 'v0.0.0'
  const [, clientMinor = '0'] = clientGo.replace(/^v/, '').split('.')
  const ldflags = [
    `-s -w -X ${module}/internal/version.version=${version}`,
    `-X ${module}/internal/version.gitTreeState=clean`,
  ]
  for (const pkg of ['pkg/lint/rules', 'pkg/chartutil']) {
    ldflags.push(`-X ${module}/${pkg}.k8sVersionMajor=1 -X ${module}/${pkg}.k8sVersionMinor=${clientMinor}`)
  }
  return goInstall(job, `${module}/cmd/helm@${version}`, { ldflags: ldflags.join(' ') })
}

export async function buildArgocd(job: Job): Promise<string> {
  await requireGo(job)
  const version = job.tool.version
  const toolchain = versions.goToolchain
  const mod = await initWrapperModule(job, toolchain)
  await step(job, 'go', ['mod', 'edit', '-go=1.27.0'], { cwd: mod, env: goEnv(toolchain) })
  const info = await downloadModule(job, `github.com/argoproj/argo-cd/v3@${version}`, toolchain)
  const goMod = readFileSync(info.GoMod, 'utf8')
  const replaces = argocdReplaceArgs(goMod, version)
  await step(job, 'go', ['mod', 'edit', ...replaces], { cwd: mod, env: goEnv(toolchain) })
  const pkg = 'github.com/argoproj/argo-cd/v3/cmd'
  await step(job, 'go', ['get', `${pkg}@${version}`], { cwd: mod, env: goEnv(toolchain) })
  const common = 'github.com/argoproj/argo-cd/v3/common'
  const kubectl = parseGoModReplaces(goMod).find((r) => r.module === 'k8s.io/kubectl')?.targetVersion
  const ldflags = [
    '-s -w',
    `-X ${common}.version=${version.replace(/^v/, '')}`,
    `-X ${common}.buildDate=${buildDate(job)}`,
    `-X ${common}.gitTreeState=clean`,
    ...(kubectl ? [`-X ${common}.kubectlVersion=${kubectl}`] : []),
  ]
  await step(
    job,
    'go',
    ['build', '-trimpath', `-ldflags=${ldflags.join(' ')}`, '-o', join(job.stage, 'argocd'), pkg],
    { cwd: mod, env: goEnv(toolchain) },
  )
  copyArgocdFilesFrom(info.Dir, job.stage)
  return `wrapper module over github.com/argoproj/argo-cd/v3@${version} (${replaces.length} replaces)`
}

/** Argo CD's real CRDs and the git wrapper its repo-server runs for every revision, from its module zip. */
function copyArgocdFilesFrom(moduleDir: string, dir: string): void {
  mkdirSync(join(dir, 'crds'), { recursive: true })
  for (const crd of ARGOCD_CRDS)
    copyInto(join(moduleDir, 'manifests', 'crds', crd), join(dir, 'crds', crd), 0o644)
  copyInto(join(moduleDir, 'hack', 'git-verify-wrapper.sh'), join(dir, 'git-verify-wrapper.sh'), 0o755)
}

export async function copyArgocdFiles(job: Job, dir: string): Promise<void> {
  await requireGo(job)
  const info = await downloadModule(
    job,
    `github.com/argoproj/argo-cd/v3@${job.tool.version}`,
    versions.goToolchain,
  )
  copyArgocdFilesFrom(info.Dir, dir)
}

/** kwok's default node and pod stages: without stages kwok exits "no stages found". */
export async function copyKwokStages(job: Job, dir: string): Promise<void> {
  await requireGo(job)
  const info = await downloadModule(job, `sigs.k8s.io/kwok@${job.tool.version}`)
  mkdirSync(join(dir, 'stages'), { recursive: true })
  for (const stage of KWOK_STAGE_DIRS) {
    const from = join(info.Dir, 'kustomize', 'stage', stage)
    const yamls = readdirSync(from).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    if (yamls.length === 0) throw new StepFailed(`no stage yaml in ${from}`, 1)
    for (const file of yamls) copyInto(join(from, file), join(dir, 'stages', file), 0o644)
  }
}
