import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { versions } from '../../core/versions.ts'

/**
 * What the offline kind images are made of: every pinned component, Debian package list, image
 * name and file, in one place. Its hash (recipeKey) names the archive folder and labels the node
 * image, so a changed recipe rebuilds and an unchanged one is taken as is.
 */

/** Bump when the assembly changes in a way the data below does not show. */
export const RECIPE_REVISION = 1

const HERE = dirname(fileURLToPath(import.meta.url))

/** The folder beside this file holding the node image's own files (conflist, pause.c, ...). */
export const FILES_DIR = join(HERE, 'files')
/** The KSOPS stand-in's Go module (a STAND-IN, not KSOPS: see its main.go). */
export const KSOPS_STANDIN_DIR = join(HERE, 'ksops-standin')

/** The components kind v0.33.0's base image and node-image build pin, all built from the Go module proxy. */
export const components = {
  kind: versions.kind,
  kubernetes: versions.kubernetes,
  containerd: 'v2.3.4',
  crictl: 'v1.36.0',
  cniPlugins: 'v1.9.1',
  /** The etcd kubeadm 1.36 deploys (its image tag is `3.6.8-0`), not the local tier's etcd. */
  etcd: 'v3.6.8',
  coredns: 'v1.14.2',
  localPathProvisioner: 'v0.0.30',
  sops: versions.sops,
} as const

export const CONTAINERD_TAGS = ['no_aufs', 'no_zfs', 'no_btrfs', 'no_devmapper']
export const CNI_PLUGINS = ['ipam/host-local', 'main/loopback', 'main/ptp', 'meta/portmap']
/** Built into the node next to the control plane the tools cache already holds. */
export const NODE_K8S_CMDS = ['kubeadm', 'kubelet', 'kube-proxy']

/** Debian roots: bookworm for the node (the host may be cgroup v1, and systemd >= 256 refuses it). */
export const roots = {
  /** kind's base image package list (less nfs-common and open-iscsi) plus Debian's runc. */
  node: {
    suite: 'bookworm',
    packages: [
      'systemd',
      'systemd-sysv',
      'dbus',
      'conntrack',
      'iptables',
      'nftables',
      'iproute2',
      'ethtool',
      'util-linux',
      'mount',
      'kmod',
      'libseccomp2',
      'pigz',
      'fuse-overlayfs',
      'e2fsprogs',
      'bash',
      'ca-certificates',
      'curl',
      'jq',
      'procps',
      'runc',
      'findutils',
      'gawk',
    ],
  },
  /** kube-proxy's image: it runs iptables. */
  proxy: { suite: 'bookworm', packages: ['iptables', 'nftables', 'conntrack', 'ipset', 'kmod'] },
  redis: { suite: 'bookworm', packages: ['redis-server'] },
  /** trixie: the chart's copyutil init container runs `cp --update=none` (coreutils >= 9.2). */
  argocd: {
    suite: 'trixie',
    packages: ['git', 'gpg', 'gpg-agent', 'openssh-client', 'bash', 'tini', 'ca-certificates', 'tzdata'],
  },
} as const

export type RootName = keyof typeof roots

/** The node image's tag: the project's own, never mistaken for kindest/node. */
export const NODE_IMAGE = `platform-bootstrap/kind-node:${versions.kubernetes}`

/** The images kubeadm and kind v0.33.0's manifests name, preloaded into the node's containerd. */
export const componentImages = {
  apiserver: `registry.k8s.io/kube-apiserver:${versions.kubernetes}`,
  controllerManager: `registry.k8s.io/kube-controller-manager:${versions.kubernetes}`,
  scheduler: `registry.k8s.io/kube-scheduler:${versions.kubernetes}`,
  proxy: `registry.k8s.io/kube-proxy:${versions.kubernetes}`,
  etcd: `registry.k8s.io/etcd:${components.etcd.replace(/^v/, '')}-0`,
  coredns: `registry.k8s.io/coredns/coredns:${components.coredns}`,
  /** kubeadm 1.36's pause, and the one kind's containerd config names as its sandbox image. */
  pause: ['registry.k8s.io/pause:3.10.2', 'registry.k8s.io/pause:3.10'],
} as const

/** The platform's images for the dev environment, tagged with the exact names the charts render. */
export const platformImages = {
  argocd: `quay.io/argoproj/argocd:${versions.argocd}`,
  /** argo-cd chart 10.1.1's redis image name; the content is Debian's redis (7.0), said in a LABEL. */
  redis: 'ecr-public.aws.com/docker/library/redis:8.2.3-alpine',
  busybox: 'busybox:1.37.0',
  openbao: `quay.io/openbao/openbao:${versions.openbao}`,
  /** A STAND-IN, not KSOPS: no registry here serves KSOPS. */
  ksops: versions.images.ksopsInit,
} as const

export type PlatformImage = keyof typeof platformImages

/** The symlinks upstream's Argo CD image makes to its one binary. */
export const ARGOCD_LINKS = [
  'argocd-server',
  'argocd-repo-server',
  'argocd-application-controller',
  'argocd-applicationset-controller',
  'argocd-notifications',
  'argocd-dex',
  'argocd-cmp-server',
  'argocd-commit-server',
  'argocd-k8s-auth',
]

/** A short, stable hash of anything JSON can hold (key order does not matter). */
export function hashOf(value: unknown, length = 12): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, length)
}

export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** Every file of a folder (not recursive) with its content: a folder's part of a recipe. */
export function folderContents(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => [entry.name, readFileSync(join(dir, entry.name), 'utf8')]),
  )
}

/** What the node image depends on: its hash is the node image's recipe label. */
export function nodeRecipe(files: Record<string, string> = folderContents(FILES_DIR)) {
  return {
    revision: RECIPE_REVISION,
    components,
    containerdTags: CONTAINERD_TAGS,
    cniPlugins: CNI_PLUGINS,
    root: roots.node,
    proxyRoot: roots.proxy,
    images: componentImages,
    files,
  }
}

/** What the platform archives depend on: its hash names their folder. */
export function platformRecipe(
  files: Record<string, string> = folderContents(FILES_DIR),
  ksops: Record<string, string> = folderContents(KSOPS_STANDIN_DIR),
) {
  return {
    revision: RECIPE_REVISION,
    versions: {
      argocd: versions.argocd,
      helm: versions.helm,
      kustomize: versions.kustomize,
      openbao: versions.openbao,
      sops: versions.sops,
    },
    roots: { redis: roots.redis, argocd: roots.argocd },
    images: platformImages,
    argocdLinks: ARGOCD_LINKS,
    entrypoint: files['openbao-entrypoint.sh'],
    ksops,
  }
}

export function recipeKey(recipe: unknown): string {
  return hashOf(recipe)
}
