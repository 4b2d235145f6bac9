import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ToolDeps } from '../../deps.ts'
import { appendLog, type Job, step } from '../../job.ts'

/**
 * The Docker commands the offline images are made with, and only these: `docker import`,
 * `docker run --pull=never`, `docker commit`, a metadata-only `docker build` FROM an image that is
 * already here (the legacy builder: it never pulls a base it has), `docker save`. None of them can
 * contact a registry.
 */

const PROBE_TIMEOUT_MS = 10_000

/** The engine's version when a Docker engine answers, else undefined (no client, or no engine). */
export async function dockerEngine(deps: ToolDeps): Promise<string | undefined> {
  const result = await deps.run('docker', ['version', '--format', '{{.Server.Version}}'], {
    env: deps.env,
    timeoutMs: PROBE_TIMEOUT_MS,
  })
  return result.exitCode === 0 && result.stdout.trim() ? result.stdout.trim() : undefined
}

export interface ImageInfo {
  id: string
  labels: Record<string, string>
  created: string
  size: number
}

export async function inspectImage(deps: ToolDeps, image: string): Promise<ImageInfo | undefined> {
  const result = await deps.run('docker', ['image', 'inspect', image], {
    env: deps.env,
    timeoutMs: PROBE_TIMEOUT_MS,
  })
  if (result.exitCode !== 0) return undefined
  const [found] = JSON.parse(result.stdout) as {
    Id: string
    Created: string
    Size: number
    Config?: { Labels?: Record<string, string> | null }
  }[]
  if (!found) return undefined
  return { id: found.Id, labels: found.Config?.Labels ?? {}, created: found.Created, size: found.Size }
}

/** `docker import` of a root filesystem tarball, with Dockerfile-style changes (ENV, USER, LABEL...). */
export async function importRoot(job: Job, tarball: string, image: string, changes: string[]): Promise<void> {
  await step(job, 'docker', ['import', ...changes.flatMap((c) => ['-c', c]), tarball, image])
}

/** A `docker build` whose Dockerfile only sets metadata on an image already here (STOPSIGNAL, LABEL). */
export async function metadataBuild(job: Job, from: string, lines: string[], image: string): Promise<void> {
  const dir = join(job.work, `metadata-${image.replace(/[^a-zA-Z0-9]+/g, '-')}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'Dockerfile'), [`FROM ${from}`, ...lines, ''].join('\n'))
  await step(job, 'docker', ['build', '--pull=false', '--quiet', '--tag', image, dir], {
    env: { DOCKER_BUILDKIT: '0' },
  })
}

export async function saveImage(job: Job, images: string[], file: string): Promise<void> {
  await step(job, 'docker', ['save', '--output', file, ...images])
}

/** Best effort: an image or container that is already gone is fine. */
export async function removeImages(job: Job, images: string[]): Promise<void> {
  if (images.length === 0) return
  const result = await job.deps.run('docker', ['rmi', '--force', ...images], { env: job.deps.env })
  appendLog(job, `\n$ docker rmi --force ${images.join(' ')}\n${result.stdout}${result.stderr}`)
}

export async function removeContainer(job: Job, name: string): Promise<void> {
  const result = await job.deps.run('docker', ['rm', '--force', '--volumes', name], { env: job.deps.env })
  appendLog(job, `\n$ docker rm --force --volumes ${name}\n${result.stdout}${result.stderr}`)
}

/** `--change` arguments for `docker import` / `docker commit`. */
export function changes(config: {
  env?: Record<string, string>
  user?: string
  workdir?: string
  entrypoint?: string[]
  cmd?: string[]
  labels?: Record<string, string>
}): string[] {
  return [
    ...Object.entries(config.env ?? {}).map(([key, value]) => `ENV ${key}=${JSON.stringify(value)}`),
    ...(config.user ? [`USER ${config.user}`] : []),
    ...(config.workdir ? [`WORKDIR ${config.workdir}`] : []),
    ...(config.entrypoint ? [`ENTRYPOINT ${JSON.stringify(config.entrypoint)}`] : []),
    ...(config.cmd ? [`CMD ${JSON.stringify(config.cmd)}`] : []),
    ...Object.entries(config.labels ?? {}).map(([key, value]) => `LABEL ${key}=${JSON.stringify(value)}`),
  ]
}
