import { chmodSync, cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { type Job, step } from '../../job.ts'
import { changes, importRoot, removeImages, saveImage } from '../build/docker.ts'
import { packRoot, staticEtc } from '../build/rootfs.ts'

/**
 * One image from one root folder: packed, `docker import`ed with its metadata, saved as one
 * `docker save` tarball under every name it goes by, and removed from the engine again (the
 * tarball is the product).
 */

export interface ImageSpec {
  /** Every name the image goes by (the first is the one it is imported as). */
  names: string[]
  root: string
  config: Parameters<typeof changes>[0]
}

export async function archiveImage(job: Job, spec: ImageSpec, file: string): Promise<void> {
  const [first, ...others] = spec.names
  if (!first) throw new Error('an image needs a name')
  const tarball = join(job.work, `${first.replace(/[^a-zA-Z0-9.]+/g, '_')}.root.tar`)
  await packRoot(job, spec.root, tarball)
  await importRoot(job, tarball, first, changes(spec.config))
  for (const other of others) await step(job, 'docker', ['tag', first, other])
  try {
    await saveImage(job, spec.names, file)
    chmodSync(file, 0o644) // docker save writes 0600: kind load, run by anyone, reads it
  } finally {
    await removeImages(job, spec.names)
    await step(job, 'rm', ['-f', tarball])
  }
}

/** A root for one static binary (or a few) in /usr/local/bin, with a minimal /etc. */
export function staticRoot(dir: string, binaries: Record<string, string>, binDir = 'usr/local/bin'): string {
  staticEtc(dir)
  for (const [name, from] of Object.entries(binaries)) installBinary(dir, name, from, binDir)
  return dir
}

/** Copies one binary into a root that already has its /etc. */
export function installBinary(root: string, name: string, from: string, binDir = 'usr/local/bin'): void {
  mkdirSync(join(root, binDir), { recursive: true })
  cpSync(from, join(root, binDir, name))
  chmodSync(join(root, binDir, name), 0o755)
}

/** busybox with a link per applet in /bin (the list comes from the binary itself). */
export async function busyboxRoot(job: Job, busybox: string, dir: string): Promise<string> {
  staticEtc(dir)
  mkdirSync(join(dir, 'bin'), { recursive: true })
  cpSync(busybox, join(dir, 'bin', 'busybox'))
  chmodSync(join(dir, 'bin', 'busybox'), 0o755)
  const applets = (await step(job, busybox, ['--list'])).stdout.split('\n').filter(Boolean)
  const present = new Set(readdirSync(join(dir, 'bin')))
  for (const applet of applets) {
    if (present.has(applet)) continue
    symlinkSync('busybox', join(dir, 'bin', applet))
  }
  return dir
}
