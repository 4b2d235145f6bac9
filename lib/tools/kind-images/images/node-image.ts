import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../../core/errors.ts'
import { versions } from '../../../core/versions.ts'
import { downloadModule } from '../../build/go-build.ts'
import { selectTools, toolDir } from '../../catalogue.ts'
import { type Job, StepFailed, step } from '../../job.ts'
import { changes, importRoot, metadataBuild, removeContainer, removeImages } from '../build/docker.ts'
import { packRoot, trimRoot, unpackRoot } from '../build/rootfs.ts'
import { ROOT_TAR } from '../build/roots.ts'
import { storageManifestFrom } from '../build/storage.ts'
import { nodeImageLabels, POD_RESOLV_CONF } from '../labels.ts'
import { CNI_PLUGINS, components, FILES_DIR, NODE_IMAGE } from '../recipe.ts'

/**
 * The kind node image, assembled as kind v0.33.0 builds its own: its base image's files (from
 * kind's Go module zip) on a Debian root, containerd, runc, crictl, the CNI plugins, kubeadm,
 * kubelet, kubectl; then the component images imported into the node's containerd (`ctr import`
 * in a container of the image, then `docker commit`), as `kind build node-image` does.
 */

export interface NodeInputs {
  dirs: {
    root: string
    containerd: string
    crictl: string
    cni: string
    kubernetesNode: string
    componentImages: string
  }
  recipeKey: string
  /** Every image name the node's containerd must hold after the preload. */
  expectedImages: string[]
}

const GUARD_UNIT = 'platform-bootstrap-service-guard.service'
const CONFLIST = '10-platform-bootstrap.conflist'

/** kind's module zip: images/base/files and pkg/build/nodeimage/const_storage.go. */
export async function kindModuleDir(job: Job): Promise<string> {
  return (await downloadModule(job, `sigs.k8s.io/kind@${components.kind}`)).Dir
}

function copyTree(from: string, to: string, fileMode: number): void {
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.isDirectory()) {
      copyTree(source, target, fileMode)
      chmodSync(target, 0o755)
    } else {
      cpSync(source, target)
      chmodSync(target, fileMode)
    }
  }
}

function removeEntries(dir: string, match: (name: string) => boolean): void {
  if (!existsSync(dir)) return
  for (const name of readdirSync(dir))
    if (match(name)) rmSync(join(dir, name), { recursive: true, force: true })
}

/** What kind's images/base/Dockerfile does to its base root (COPY with modes, then the RUN lines). */
export function installKindBase(root: string, files: string): void {
  copyTree(join(files, 'usr/local/bin'), join(root, 'usr/local/bin'), 0o755)
  copyTree(join(files, 'kind'), join(root, 'kind'), 0o644)
  copyTree(join(files, 'kind/bin'), join(root, 'kind/bin'), 0o755)
  chmodSync(join(root, 'kind'), 0o755)
  chmodSync(join(root, 'kind/bin'), 0o755)
  copyTree(join(files, 'LICENSES'), join(root, 'LICENSES'), 0o644)
  for (const file of readdirSync(join(files, 'etc'), { withFileTypes: true })) {
    if (file.isFile()) {
      cpSync(join(files, 'etc', file.name), join(root, 'etc', file.name))
      chmodSync(join(root, 'etc', file.name), 0o644)
    }
  }
  for (const dir of ['containerd', 'default', 'sysctl.d', 'systemd/system']) {
    copyTree(join(files, 'etc', dir), join(root, 'etc', dir), 0o644)
  }
  const lib = join(root, 'lib/systemd/system')
  removeEntries(join(lib, 'sysinit.target.wants'), (name) => name === 'systemd-tmpfiles-setup.service')
  removeEntries(join(lib, 'multi-user.target.wants'), () => true)
  for (const wants of readdirSync(join(root, 'etc/systemd/system')).filter((name) =>
    name.endsWith('.wants'),
  )) {
    removeEntries(join(root, 'etc/systemd/system', wants), () => true)
  }
  removeEntries(join(lib, 'local-fs.target.wants'), () => true)
  removeEntries(
    join(lib, 'sockets.target.wants'),
    (name) => name.includes('udev') || name.includes('initctl'),
  )
  removeEntries(join(lib, 'basic.target.wants'), () => true)
  appendFileSync(join(root, 'etc/systemd/journald.conf'), 'ReadKMsg=no\n')
  rmSync(join(root, 'sbin/init'), { force: true })
  symlinkSync('/usr/lib/systemd/systemd', join(root, 'sbin/init'))
  mkdirSync(join(root, 'etc/kubernetes/manifests'), { recursive: true })
}

/** The containerd config with `restrict_oom_score_adj = true`: without CAP_SYS_RESOURCE no sandbox starts. */
export function restrictOomScoreAdj(config: string): string {
  if (/restrict_oom_score_adj\s*=\s*true/.test(config)) return config
  const changed = config.replace(/restrict_oom_score_adj\s*=\s*false/, 'restrict_oom_score_adj = true')
  if (changed === config) {
    throw new BootstrapError("kind's containerd config has no restrict_oom_score_adj setting", {
      hint: 'kind changed its containerd config: update lib/tools/kind-images/images/node-image.ts',
    })
  }
  return changed
}

/** kind's cri-base.json: containerd's default OCI spec plus kind's mount hook, without rlimits. */
export function criBaseSpec(ociSpec: string): string {
  const spec = JSON.parse(ociSpec) as {
    hooks?: { createContainer?: unknown[] }
    process?: { rlimits?: unknown }
  }
  spec.hooks = {
    ...spec.hooks,
    createContainer: [...(spec.hooks?.createContainer ?? []), { path: '/kind/bin/mount-product-files.sh' }],
  }
  if (spec.process) delete spec.process.rlimits
  return `${JSON.stringify(spec, null, 2)}\n`
}

function install(from: string, to: string, mode: number): void {
  mkdirSync(join(to, '..'), { recursive: true })
  cpSync(from, to)
  chmodSync(to, mode)
}

async function assembleRoot(job: Job, inputs: NodeInputs, root: string): Promise<void> {
  const { dirs } = inputs
  await unpackRoot(job, join(dirs.root, ROOT_TAR), root)
  const kind = await kindModuleDir(job)
  installKindBase(root, join(kind, 'images/base/files'))
  const containerdConfig = join(root, 'etc/containerd/config.toml')
  writeFileSync(containerdConfig, restrictOomScoreAdj(readFileSync(containerdConfig, 'utf8')))
  // containerd (module proxy build), runc (Debian's package, in the root), crictl, the CNI plugins.
  for (const bin of ['containerd', 'containerd-shim-runc-v2', 'ctr']) {
    install(join(dirs.containerd, bin), join(root, 'usr/local/bin', bin), 0o755)
  }
  install(join(dirs.crictl, 'crictl'), join(root, 'usr/local/bin/crictl'), 0o755)
  for (const plugin of CNI_PLUGINS.map((p) => p.split('/')[1] as string)) {
    install(join(dirs.cni, plugin), join(root, 'opt/cni/bin', plugin), 0o755)
  }
  const ociSpec = await step(job, join(dirs.containerd, 'ctr'), ['oci', 'spec'])
  writeFileSync(join(root, 'etc/containerd/cri-base.json'), criBaseSpec(ociSpec.stdout))
  // What `kind build node-image` adds: Kubernetes, its version, the default manifests.
  const controlPlane = toolDir(
    selectTools(['kubernetes'])[0] ?? { name: 'kubernetes', version: versions.kubernetes },
  )
  install(join(dirs.kubernetesNode, 'kubeadm'), join(root, 'usr/bin/kubeadm'), 0o755)
  install(join(dirs.kubernetesNode, 'kubelet'), join(root, 'usr/bin/kubelet'), 0o755)
  install(join(controlPlane, 'kubectl'), join(root, 'usr/bin/kubectl'), 0o755)
  writeFileSync(join(root, 'kind/version'), versions.kubernetes)
  const storage = storageManifestFrom(
    readFileSync(join(kind, 'pkg/build/nodeimage/const_storage.go'), 'utf8'),
  )
  mkdirSync(join(root, 'kind/manifests'), { recursive: true })
  writeFileSync(join(root, 'kind/manifests/default-storage.yaml'), storage.manifest)
  install(join(FILES_DIR, 'default-cni.yaml'), join(root, 'kind/manifests/default-cni.yaml'), 0o644)
  // This project's additions: the static pod network, a resolv.conf where nothing answers, the Service-CIDR guard.
  install(join(FILES_DIR, CONFLIST), join(root, 'etc/cni/net.d', CONFLIST), 0o644)
  install(join(FILES_DIR, 'pod-resolv.conf'), join(root, POD_RESOLV_CONF.slice(1)), 0o644)
  install(join(FILES_DIR, 'service-cidr-guard.service'), join(root, 'etc/systemd/system', GUARD_UNIT), 0o644)
  await step(job, 'systemctl', [
    `--root=${root}`,
    'enable',
    'kubelet.service',
    'containerd.service',
    'undo-mount-hacks.service',
    GUARD_UNIT,
  ])
  await step(job, 'systemctl', [`--root=${root}`, 'mask', 'systemd-binfmt.service'])
  trimRoot(root)
}

async function waitForContainerd(job: Job, container: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const probe = await job.deps.run('docker', ['exec', container, 'ctr', 'version'], { env: job.deps.env })
    if (probe.exitCode === 0) return
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new StepFailed(`containerd did not start in the build container ${container}`, 1)
}

/** Preloads the component images into the node's containerd, then commits the result with kind's entrypoint. */
async function preloadAndCommit(
  job: Job,
  inputs: NodeInputs,
  base: string,
  committed: string,
): Promise<string[]> {
  const container = `platform-bootstrap-kind-node-build-${process.pid}`
  await removeContainer(job, container)
  await step(job, 'docker', [
    'run',
    '--detach',
    '--pull=never',
    '--name',
    container,
    '--network=none',
    '--entrypoint=sleep',
    '--security-opt',
    'seccomp=unconfined',
    base,
    'infinity',
  ])
  try {
    await step(job, 'docker', ['exec', '--detach', container, 'containerd'])
    await waitForContainerd(job, container)
    const archives = readdirSync(inputs.dirs.componentImages)
      .filter((file) => file.endsWith('.tar'))
      .sort()
    await step(job, 'docker', ['exec', container, 'mkdir', '-p', '/tmp/preload'])
    for (const archive of archives) {
      await step(job, 'docker', [
        'cp',
        join(inputs.dirs.componentImages, archive),
        `${container}:/tmp/preload/${archive}`,
      ])
      await step(job, 'docker', [
        'exec',
        container,
        'ctr',
        '--namespace=k8s.io',
        'images',
        'import',
        '--label=io.cri-containerd.pinned=pinned',
        '--no-unpack',
        '--digests',
        `/tmp/preload/${archive}`,
      ])
      await step(job, 'docker', ['exec', container, 'rm', '-f', `/tmp/preload/${archive}`])
    }
    const listed = await step(job, 'docker', [
      'exec',
      container,
      'ctr',
      '--namespace=k8s.io',
      'images',
      'list',
      '--quiet',
    ])
    const images = listed.stdout.split('\n').filter((line) => line && !line.startsWith('sha256:'))
    const missing = inputs.expectedImages.filter((image) => !images.includes(image))
    if (missing.length > 0)
      throw new StepFailed(`not in the node's containerd after the preload: ${missing.join(', ')}`, 1)
    await step(job, 'docker', ['exec', container, 'pkill', 'containerd'])
    await step(job, 'sh', ['-c', 'sleep 2'])
    await step(job, 'docker', [
      'commit',
      ...changes({
        env: { container: 'docker', HTTP_PROXY: '', HTTPS_PROXY: '', NO_PROXY: '' },
        entrypoint: ['/usr/local/bin/entrypoint', '/sbin/init'],
        labels: nodeImageLabels(inputs.recipeKey),
      }).flatMap((change) => ['--change', change]),
      container,
      committed,
    ])
    return images
  } finally {
    await removeContainer(job, container)
  }
}

/** Builds NODE_IMAGE; returns the image names preloaded into its containerd. */
export async function buildNodeImage(job: Job, inputs: NodeInputs): Promise<string[]> {
  const root = join(job.work, 'node-root')
  await assembleRoot(job, inputs, root)
  const tarball = join(job.work, 'node-root.tar')
  await packRoot(job, root, tarball)
  rmSync(root, { recursive: true, force: true })
  const base = `platform-bootstrap/kind-node-base:${inputs.recipeKey}`
  const committed = `platform-bootstrap/kind-node-build:${inputs.recipeKey}`
  try {
    await importRoot(
      job,
      tarball,
      base,
      changes({ env: { container: 'docker' }, entrypoint: ['/usr/local/bin/entrypoint', '/sbin/init'] }),
    )
    rmSync(tarball, { force: true })
    const images = await preloadAndCommit(job, inputs, base, committed)
    // docker 20.10 refuses STOPSIGNAL in import/commit changes: one metadata-only build adds it.
    await metadataBuild(job, committed, ['STOPSIGNAL SIGRTMIN+3'], NODE_IMAGE)
    return images
  } finally {
    await removeImages(job, [committed, base])
  }
}
