import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs'
import { join } from 'node:path'

/** What the repo-server runs besides git: Argo CD, kustomize and helm as in its image; sops for the KSOPS stand-in. */
export const IMAGE_BINARIES = ['argocd', 'kustomize', 'helm', 'sops', 'git-verify-wrapper.sh'] as const

/**
 * The binaries Argo CD's image holds (argocd, kustomize, helm, git-verify-wrapper.sh; sops for the
 * KSOPS stand-in), in one folder the image's user can reach: the tools cache sits in the home of
 * whoever ran create, which uid 999 cannot enter. Hard links where the filesystems allow, copies
 * elsewhere; the folder is named by Argo CD's version, so a new pin starts the processes anew.
 */
export function ensureImage(node: string, version: string, binaries: Record<string, string>): string {
  const images = join(node, 'image')
  const bin = join(images, `argocd-${version}`, 'usr', 'local', 'bin')
  mkdirSync(bin, { recursive: true, mode: 0o755 })
  for (const other of readdirSync(images))
    if (other !== `argocd-${version}`) rmSync(join(images, other), { recursive: true, force: true })
  for (const [name, source] of Object.entries(binaries)) placeInImage(realpathSync(source), join(bin, name))
  return bin
}

function placeInImage(source: string, target: string): void {
  const from = statSync(source)
  if (existsSync(target)) {
    const to = statSync(target)
    if (to.ino === from.ino || (to.size === from.size && to.mtimeMs === from.mtimeMs)) return
  }
  const tmp = `${target}.tmp-${process.pid}`
  rmSync(tmp, { force: true })
  try {
    linkSync(source, tmp)
  } catch {
    copyFileSync(source, tmp)
    utimesSync(tmp, from.atime, from.mtime)
  }
  renameSync(tmp, target)
}
