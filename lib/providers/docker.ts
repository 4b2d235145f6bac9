import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ProcessError } from '../core/errors.ts'
import type { Run } from '../core/exec.ts'

/** What the kind provider asks of the Docker engine kind runs on: the docker CLI, typed. */

const HINT = 'is Docker running? `docker info` says; `just doctor` checks it'

/** The engine's cgroup version (`docker info`): 1 or 2. */
export async function dockerCgroupVersion(run: Run): Promise<number> {
  const { stdout } = await run('docker', ['info', '--format', '{{.CgroupVersion}}'], { hint: HINT })
  const version = Number.parseInt(stdout.trim(), 10)
  return Number.isNaN(version) ? 2 : version
}

/** An image's labels, or undefined when the engine does not have the image (kind pulls it then). */
export async function dockerImageLabels(
  run: Run,
  image: string,
): Promise<Record<string, string> | undefined> {
  try {
    const { stdout } = await run(
      'docker',
      ['image', 'inspect', '--format', '{{json .Config.Labels}}', image],
      {
        hint: HINT,
      },
    )
    return (JSON.parse(stdout.trim() || 'null') ?? {}) as Record<string, string>
  } catch (error) {
    if (error instanceof ProcessError) return undefined
    throw error
  }
}

/** The engine's ids of the named containers, in the order given. */
export async function containerIds(run: Run, names: string[]): Promise<string[]> {
  const { stdout } = await run(
    'docker',
    ['inspect', '--type', 'container', '--format', '{{.Id}}', ...names],
    {
      hint: HINT,
    },
  )
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
}

/** The images one node's containerd holds (kind's nodes keep the Kubernetes ones in namespace k8s.io). */
export async function nodeImages(run: Run, node: string): Promise<Set<string>> {
  const { stdout } = await run(
    'docker',
    ['exec', node, 'ctr', '--namespace', 'k8s.io', 'images', 'list', '--quiet'],
    {
      hint: HINT,
    },
  )
  return new Set(
    stdout
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .map(normalImageName),
  )
}

/** An archive of `docker save`: the file and the images it holds (its manifest.json's RepoTags). */
export interface ImageArchive {
  file: string
  images: string[]
}

/** What was read of each archive, by file: its size and time, and the images its manifest lists. */
export type ArchiveIndex = Record<string, { size: number; mtimeMs: number; images: string[] }>

/**
 * Every `*.tar` of a folder with the image names its manifest lists. `docker save` writes
 * manifest.json last, so reading it means reading the whole archive (hundreds of MB): an archive
 * whose size and time are as `known` records them is not read again.
 */
export async function imageArchives(
  run: Run,
  folder: string,
  known: ArchiveIndex = {},
): Promise<{ archives: ImageArchive[]; index: ArchiveIndex }> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.tar')).sort()
  const index: ArchiveIndex = {}
  const archives = await Promise.all(
    files.map(async (name) => {
      const file = join(folder, name)
      const { size, mtimeMs } = await stat(file)
      const seen = known[file]
      if (seen && seen.size === size && seen.mtimeMs === mtimeMs) {
        index[file] = seen
        return { file, images: seen.images }
      }
      const { stdout } = await run('tar', ['-xOf', file, 'manifest.json'], {
        hint: `${file} is not an image archive made by \`docker save\` (no manifest.json in it)`,
      })
      const manifest = JSON.parse(stdout) as { RepoTags?: string[] | null }[]
      const images = manifest.flatMap((entry) => entry.RepoTags ?? []).map(normalImageName)
      index[file] = { size, mtimeMs, images }
      return { file, images }
    }),
  )
  return { archives, index }
}

/**
 * One spelling per image: Docker Hub's short names in full (`busybox:1` → `docker.io/library/busybox:1`),
 * as containerd lists them.
 */
export function normalImageName(name: string): string {
  const [first = '', ...rest] = name.split('/')
  const hasRegistry = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
  if (hasRegistry) return name
  return rest.length ? `docker.io/${name}` : `docker.io/library/${name}`
}
