import { execa } from 'execa'
import { errorMessage } from '../../lib/core/errors.ts'
import { versions } from '../../lib/core/versions.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'

/**
 * What the kind e2e needs before it touches anything: a Docker daemon that answers and, for what
 * the environment does not have locally (the node image, the charts, the images), the internet.
 * Each missing one stops the run at once with one line and its own exit code, so CI and a person
 * can tell a missing prerequisite from a failed assertion (1) or a refused environment (2).
 */
export const EXIT = {
  passed: 0,
  failed: 1,
  /** Not a kind environment, or an unknown one: the harness destroys clusters, so it refuses. */
  refused: 2,
  dockerMissing: 77,
  noInternet: 78,
} as const

export const REACH_TIMEOUT_MS = 5_000
const DOCKER_TIMEOUT_MS = 15_000

export interface ProbeResult {
  ok: boolean
  /** What was found: a version, an HTTP status, or why there was no answer. */
  detail: string
}

/** The questions preflight asks the machine; tests answer them without Docker or a network. */
export interface PreflightProbes {
  docker(): Promise<ProbeResult>
  reach(url: string, timeoutMs: number): Promise<ProbeResult>
  /** Whether the Docker engine already has an image (then kind needs no registry for it). */
  hasImage(image: string): Promise<boolean>
}

export interface Target {
  what: string
  url: string
}

export type PreflightVerdict = { ok: true; message: string } | { ok: false; code: number; message: string }

/** The registry serving an image: Docker Hub when the first segment is not a host name. */
export function registryURL(image: string): string {
  const [first, ...rest] = image.split('/')
  const isHost =
    rest.length > 0 && !!first && (first.includes('.') || first.includes(':') || first === 'localhost')
  return `https://${isHost ? first : 'registry-1.docker.io'}/v2/`
}

/**
 * What the environment would fetch from the internet: the node image unless the engine has it, the
 * Argo CD chart unless charts.mirror serves it, the Argo CD image unless images.archives brings it.
 * None at all for an environment whose charts and images are all local: no probe leaves the machine.
 */
export async function internetTargets(
  env: EnvConfig,
  probes: Pick<PreflightProbes, 'hasImage'>,
): Promise<Target[]> {
  const image = env.cluster.nodeImage
  const targets: Target[] = []
  if (!(await probes.hasImage(image)))
    targets.push({ what: `the kind node image registry (${image})`, url: registryURL(image) })
  if (!env.charts.mirror)
    targets.push({ what: 'the Argo CD Helm repository', url: `${versions.charts.argocd.repo}/index.yaml` })
  if (!env.images.archives)
    targets.push({
      what: 'the Argo CD image registry',
      url: registryURL(`quay.io/argoproj/argocd:${versions.argocd}`),
    })
  return targets
}

/** Docker first: without it nothing else matters, and the answer is immediate. */
export async function preflight(probes: PreflightProbes, targets: Target[]): Promise<PreflightVerdict> {
  const docker = await probes.docker()
  if (!docker.ok) {
    return {
      ok: false,
      code: EXIT.dockerMissing,
      message: `e2e: Docker is missing: ${docker.detail}; the kind e2e needs a running Docker daemon (exit ${EXIT.dockerMissing})`,
    }
  }
  const answers = await Promise.all(
    targets.map(async (target) => ({ target, result: await probes.reach(target.url, REACH_TIMEOUT_MS) })),
  )
  const unreachable = answers.filter(({ result }) => !result.ok)
  if (unreachable.length > 0) {
    const which = unreachable
      .map(({ target, result }) => `${target.what} ${target.url} (${result.detail})`)
      .join('; ')
    return {
      ok: false,
      code: EXIT.noInternet,
      message: `e2e: no internet: no answer within ${REACH_TIMEOUT_MS / 1000} s from ${which}; the kind e2e pulls images and charts (exit ${EXIT.noInternet})`,
    }
  }
  return {
    ok: true,
    message: `e2e preflight: Docker ${docker.detail}; ${
      answers.length
        ? answers.map(({ target, result }) => `${target.url} ${result.detail}`).join(', ')
        : 'node image, charts and images all local: nothing fetched from the internet'
    }`,
  }
}

/** The harness deletes the environment's cluster: only a kind cluster this tool makes is fair game. */
export function refuseUnlessKind(env: EnvConfig): PreflightVerdict | undefined {
  if (env.cluster.provider === 'kind') return undefined
  return {
    ok: false,
    code: EXIT.refused,
    message: `e2e: refusing environment ${env.name}: it uses provider ${env.cluster.provider}, and the e2e destroys and recreates its cluster; only kind environments (e.g. dev) may be used`,
  }
}

/** `docker info` answers with the server's version only when a daemon does; the command is a parameter for tests. */
export function dockerProbe(command = 'docker'): PreflightProbes['docker'] {
  return async () => {
    const result = await execa(command, ['info', '--format', '{{.ServerVersion}}'], {
      reject: false,
      timeout: DOCKER_TIMEOUT_MS,
    })
    if ((result as { code?: string }).code === 'ENOENT')
      return { ok: false, detail: `the ${command} command is not installed` }
    if (result.timedOut)
      return { ok: false, detail: `\`docker info\` did not answer within ${DOCKER_TIMEOUT_MS / 1000} s` }
    const version = String(result.stdout ?? '').trim()
    if (result.exitCode !== 0 || !version) {
      const said = String(result.stderr ?? '')
        .trim()
        .split('\n')
        .filter(Boolean)
        .pop()
      return {
        ok: false,
        detail: `\`docker info\` failed${said ? `: ${said}` : ` (exit ${result.exitCode})`}`,
      }
    }
    return { ok: true, detail: `server ${version}` }
  }
}

export const realProbes: PreflightProbes = {
  docker: dockerProbe(),
  async hasImage(image) {
    const result = await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', image], {
      reject: false,
      timeout: DOCKER_TIMEOUT_MS,
    })
    return result.exitCode === 0
  },
  async reach(url, timeoutMs) {
    try {
      // Any HTTP status is an answer: a registry's /v2/ says 401 to anonymous callers.
      const response = await fetch(url, {
        method: 'HEAD',
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      return { ok: true, detail: `HTTP ${response.status}` }
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      const name = (error as { name?: string }).name
      const detail =
        name === 'TimeoutError' || name === 'AbortError'
          ? 'timed out'
          : (cause?.code ?? cause?.message ?? errorMessage(error))
      return { ok: false, detail }
    }
  },
}
