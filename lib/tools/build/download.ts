import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { appendLog, copyInto, type Job, step } from '../job.ts'
import { type Artifact, recipeOf } from '../recipes.ts'

/** Official release downloads (only where the release host answers within a few seconds), checksum-verified. */

/** A host that has not answered a HEAD request in this long is taken as out of reach. */
export const PROBE_TIMEOUT_MS = 3000

export async function tryDownload(job: Job, unreachable: Set<string>): Promise<string | undefined> {
  const os = job.deps.platform === 'darwin' ? 'darwin' : job.deps.platform === 'linux' ? 'linux' : undefined
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[job.deps.arch]
  const artifacts = os && arch ? recipeOf(job.tool).download?.(os, arch) : undefined
  const first = artifacts?.[0]
  if (!artifacts || !first) return undefined
  const host = new URL(first.url).host
  if (unreachable.has(host)) return undefined
  let probe: Response
  try {
    probe = await job.deps.fetch(first.url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
  } catch (error) {
    // No answer at all: the host is out of reach, and every other tool it hosts would wait as long.
    unreachable.add(host)
    appendLog(job, `\nrelease host ${host} not reachable (${(error as Error).message}): building instead\n`)
    return undefined
  }
  if (!probe.ok) {
    // The host answered: only this URL is wrong (a renamed asset, a missing release), not the host.
    job.deps.log(
      `[tools] ${job.tool.name} ${job.tool.version}: ${first.url} answered HTTP ${probe.status}, building instead`,
    )
    appendLog(job, `\nHEAD ${first.url}: HTTP ${probe.status}: building instead\n`)
    return undefined
  }
  job.deps.log(`[tools] ${job.tool.name} ${job.tool.version}: downloading the official release from ${host}`)
  try {
    for (const artifact of artifacts) await fetchArtifact(job, artifact)
    return `official release from ${host}`
  } catch (error) {
    // A broken or tampered download is not fatal: the build from source still gives the pinned version.
    job.deps.log(
      `[tools] ${job.tool.name} ${job.tool.version}: download failed (${(error as Error).message}), building instead`,
    )
    appendLog(job, `\ndownload failed: ${(error as Error).message}\n`)
    rmSync(job.stage, { recursive: true, force: true })
    mkdirSync(job.stage, { recursive: true })
    return undefined
  }
}

async function fetchBytes(job: Job, url: string): Promise<Buffer> {
  const response = await job.deps.fetch(url, { signal: AbortSignal.timeout(10 * 60_000) })
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`)
  return Buffer.from(await response.arrayBuffer())
}

/** Finds the hash for `file` in a checksum file: a bare hash, or `hash  [*]filename` lines. */
export function checksumFor(checksums: string, file: string): string | undefined {
  const lines = checksums
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  for (const line of lines) {
    const [hash, name] = line.split(/\s+/)
    if (name && name.replace(/^\*/, '').split('/').pop() === file && /^[0-9a-f]{64}$/i.test(hash ?? '')) {
      return hash?.toLowerCase()
    }
  }
  const only = lines.length === 1 ? lines[0]?.split(/\s+/) : undefined
  return only?.length === 1 && /^[0-9a-f]{64}$/i.test(only[0] ?? '') ? only[0]?.toLowerCase() : undefined
}

async function fetchArtifact(job: Job, artifact: Artifact): Promise<void> {
  const bytes = await fetchBytes(job, artifact.url)
  const file = decodeURIComponent(basename(new URL(artifact.url).pathname))
  if (artifact.sha256Url) {
    const expected = checksumFor((await fetchBytes(job, artifact.sha256Url)).toString('utf8'), file)
    const actual = createHash('sha256').update(bytes).digest('hex')
    if (!expected) throw new Error(`no checksum for ${file} in ${artifact.sha256Url}`)
    if (expected !== actual)
      throw new Error(`checksum mismatch for ${file}: expected ${expected}, got ${actual}`)
    appendLog(job, `sha256 ${file} ok (${actual})\n`)
  }
  if (artifact.members) {
    const archive = join(job.work, file)
    const unpacked = join(job.work, 'unpacked')
    writeFileSync(archive, bytes)
    mkdirSync(unpacked, { recursive: true })
    await step(job, 'tar', ['-xzf', archive, '-C', unpacked])
    for (const [binary, member] of Object.entries(artifact.members)) {
      copyInto(join(unpacked, member), join(job.stage, binary), 0o755)
    }
    return
  }
  const dest = join(job.stage, artifact.dest ?? file)
  mkdirSync(resolve(dest, '..'), { recursive: true })
  writeFileSync(dest, bytes)
  chmodSync(dest, artifact.executable ? 0o755 : 0o644)
}
