import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The archive folder's manifest.json: which `docker save` tarball holds which image names, and
 * where each came from. A folder is complete when its manifest lists every wanted image and every
 * file it names is there.
 */

export interface ArchiveEntry {
  file: string
  images: string[]
  /** How the image was made (shown by doctor). */
  source: string
  bytes?: number
}

export interface ArchiveManifest {
  key: string
  createdAt: string
  seconds: number
  archives: ArchiveEntry[]
}

export const MANIFEST_FILE = 'manifest.json'

/** `quay.io/argoproj/argocd:v3.6.1` → `quay.io_argoproj_argocd_v3.6.1.tar`. */
export function archiveFileName(image: string): string {
  return `${image.replace(/[/:@]/g, '_')}.tar`
}

export function readManifest(dir: string): ArchiveManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as ArchiveManifest
  } catch {
    return undefined
  }
}

export function writeManifest(dir: string, manifest: ArchiveManifest): void {
  writeFileSync(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`)
}

/** The images `wanted` that the manifest in `dir` does not hold (with its file present). */
export function missingImages(
  dir: string,
  manifest: ArchiveManifest | undefined,
  wanted: string[],
): string[] {
  const present = new Set(
    (manifest?.archives ?? [])
      .filter((entry) => existsSync(join(dir, entry.file)) && statSync(join(dir, entry.file)).size > 0)
      .flatMap((entry) => entry.images),
  )
  return wanted.filter((image) => !present.has(image))
}
