import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Job, StepFailed, step } from '../../job.ts'
import { findOnPath } from '../../which.ts'
import { debCacheDir, type KindImagesContext } from '../context.ts'
import { type RootName, roots } from '../recipe.ts'
import { aptMirror } from './mirror.ts'
import type { Part } from './parts.ts'
import { packRoot, trimRoot } from './rootfs.ts'

/**
 * Debian roots made by debootstrap from the mirror apt uses, each kept as a tarball (`root.tar`)
 * in its part folder, with one shared cache of the .deb files it fetched.
 */

export const ROOT_TAR = 'root.tar'

async function sudo(job: Job): Promise<string[]> {
  return job.deps.isRoot ? [] : ['sudo', '-n']
}

async function aptInstall(job: Job, pkg: string): Promise<void> {
  const prefix = await sudo(job)
  const apt = (...args: string[]) => {
    const [command = 'apt-get', ...rest] = [...prefix, 'apt-get', ...args]
    return step(job, command, rest, { env: { DEBIAN_FRONTEND: 'noninteractive' } })
  }
  try {
    await apt('install', '-y', '--no-install-recommends', pkg)
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error
    await apt('update') // a fresh machine often has no package lists yet
    await apt('install', '-y', '--no-install-recommends', pkg)
  }
}

/** debootstrap itself comes from apt, as redis-server does for the local tier. */
async function requireDebootstrap(job: Job): Promise<string> {
  const path = `${job.deps.env.PATH ?? ''}:/usr/sbin:/sbin`
  const found = findOnPath('debootstrap', path)
  if (found) return found
  await aptInstall(job, 'debootstrap')
  const installed = findOnPath('debootstrap', path)
  if (!installed) throw new StepFailed('apt-get installed debootstrap but no debootstrap binary was found', 1)
  return installed
}

export function rootPart(ctx: KindImagesContext, name: RootName): Part {
  const spec = roots[name]
  return {
    name: `root-${name}`,
    version: spec.suite,
    inputs: spec.packages,
    files: [ROOT_TAR],
    note: `debootstrap --variant=minbase ${spec.suite} with ${spec.packages.length} packages (~1-2 min)`,
    build: async (job) => {
      const debootstrap = await requireDebootstrap(job)
      const mirror = aptMirror()
      const cacheDir = debCacheDir(ctx)
      mkdirSync(cacheDir, { recursive: true })
      const root = join(job.work, 'root')
      await step(job, debootstrap, [
        '--variant=minbase',
        `--cache-dir=${cacheDir}`,
        `--include=${spec.packages.join(',')}`,
        spec.suite,
        root,
        mirror,
      ])
      trimRoot(root)
      await packRoot(job, root, join(job.stage, ROOT_TAR))
      return `debootstrap ${spec.suite} from ${mirror} (+ ${spec.packages.join(' ')})`
    },
  }
}

/** Debian's busybox-static: one static binary, for the busybox, local-path-helper and OpenBao images. */
export function busyboxPart(): Part {
  return {
    name: 'busybox',
    version: 'debian',
    files: ['busybox'],
    note: 'apt-get download busybox-static',
    build: async (job) => {
      const download = join(job.work, 'deb')
      mkdirSync(download)
      try {
        await step(job, 'apt-get', ['download', 'busybox-static'], { cwd: download })
      } catch (error) {
        if (!(error instanceof StepFailed)) throw error
        await step(job, 'apt-get', ['update'], { env: { DEBIAN_FRONTEND: 'noninteractive' } })
        await step(job, 'apt-get', ['download', 'busybox-static'], { cwd: download })
      }
      const unpacked = join(job.work, 'unpacked')
      await step(job, 'sh', ['-c', 'dpkg -x "$1"/busybox-static_*.deb "$2"', 'sh', download, unpacked])
      await step(job, 'cp', [join(unpacked, 'bin', 'busybox'), join(job.stage, 'busybox')])
      const version = await step(job, 'sh', [
        '-c',
        'dpkg-deb -f "$1"/busybox-static_*.deb Version',
        'sh',
        download,
      ])
      return `Debian package busybox-static ${version.stdout.trim()}`
    },
  }
}
