import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { versions } from '../../lib/core/versions.ts'
import { type EnvConfig, loadConfig } from '../../lib/runner/config.ts'
import { main } from '../e2e/harness.ts'
import {
  dockerProbe,
  EXIT,
  internetTargets,
  type PreflightProbes,
  type ProbeResult,
  preflight,
  REACH_TIMEOUT_MS,
  realProbes,
  refuseUnlessKind,
  registryURL,
} from '../e2e/preflight.ts'

/**
 * The kind e2e's gate: Docker, then the internet, each missing one ending the run at once
 * with one line and its own exit code; and the refusal of anything but a kind environment,
 * since the harness destroys the cluster. Probes are injected: no Docker or network needed.
 */

interface Recorded extends PreflightProbes {
  asked: string[]
}

function probes(
  docker: ProbeResult,
  reach: (url: string) => ProbeResult = () => ({ ok: true, detail: 'HTTP 200' }),
): Recorded {
  const asked: string[] = []
  return {
    asked,
    docker: async () => {
      asked.push('docker')
      return docker
    },
    reach: async (url, timeoutMs) => {
      asked.push(`${url} ${timeoutMs}`)
      return reach(url)
    },
    hasImage: async () => false,
  }
}

/** The targets of the committed dev environment on an engine without its node image. */
const devTargets = () => internetTargets(loadConfig('dev'), { hasImage: async () => false })
const TWO = [
  { what: 'the kind node image registry', url: 'https://registry-1.docker.io/v2/' },
  { what: 'the Argo CD Helm repository', url: 'https://argoproj.github.io/argo-helm/index.yaml' },
]

const DOCKER_OK: ProbeResult = { ok: true, detail: 'server 28.2.2' }
const NO_DAEMON: ProbeResult = {
  ok: false,
  detail:
    '`docker info` failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
}

describe('preflight', () => {
  it('no Docker: code 77 and one line saying Docker, without asking the network', async () => {
    const recorded = probes(NO_DAEMON)
    const verdict = await preflight(recorded, TWO)
    expect(verdict).toMatchObject({ ok: false, code: 77 })
    expect(EXIT.dockerMissing).toBe(77)
    expect(verdict.message).toMatch(
      /^e2e: Docker is missing: `docker info` failed: Cannot connect to the Docker daemon/,
    )
    expect(verdict.message).not.toContain('\n')
    expect(recorded.asked).toEqual(['docker'])
  })

  it('no internet: code 78, naming each unanswered address, each asked with the 5 s timeout', async () => {
    const recorded = probes(DOCKER_OK, () => ({ ok: false, detail: 'ENOTFOUND' }))
    const verdict = await preflight(recorded, TWO)
    expect(verdict).toMatchObject({ ok: false, code: 78 })
    expect(EXIT.noInternet).toBe(78)
    expect(verdict.message).toMatch(/^e2e: no internet: no answer within 5 s from /)
    expect(verdict.message).toContain('https://registry-1.docker.io/v2/ (ENOTFOUND)')
    expect(verdict.message).toContain('https://argoproj.github.io/argo-helm/index.yaml (ENOTFOUND)')
    expect(verdict.message).not.toContain('\n')
    expect(REACH_TIMEOUT_MS).toBe(5000)
    expect(recorded.asked.slice(1)).toEqual(TWO.map((t) => `${t.url} 5000`))
  })

  it('one of the two unreachable is enough for 78, and only that one is named', async () => {
    const verdict = await preflight(
      probes(DOCKER_OK, (url) =>
        url.includes('argo-helm') ? { ok: false, detail: 'timed out' } : { ok: true, detail: 'HTTP 401' },
      ),
      TWO,
    )
    expect(verdict).toMatchObject({ ok: false, code: 78 })
    expect(verdict.message).toContain(
      'the Argo CD Helm repository https://argoproj.github.io/argo-helm/index.yaml (timed out)',
    )
    expect(verdict.message).not.toContain('registry-1.docker.io')
  })

  it('both fine: ok, saying what answered', async () => {
    const verdict = await preflight(
      probes(DOCKER_OK, () => ({ ok: true, detail: 'HTTP 401' })),
      TWO,
    )
    expect(verdict.ok).toBe(true)
    expect(verdict.message).toContain('Docker server 28.2.2')
    expect(verdict.message).toContain('https://registry-1.docker.io/v2/ HTTP 401')
  })

  it('asks the registry of the pinned kind node image, the pinned Argo CD chart repository and image registry', async () => {
    expect((await devTargets()).map((t) => t.url)).toEqual([
      'https://registry-1.docker.io/v2/',
      'https://argoproj.github.io/argo-helm/index.yaml',
      'https://quay.io/v2/',
    ])
    expect(registryURL(versions.kindNodeImage)).toBe('https://registry-1.docker.io/v2/')
    expect(registryURL('busybox:1.37.0')).toBe('https://registry-1.docker.io/v2/')
    expect(registryURL('quay.io/openbao/openbao-csi-provider:2.0.0')).toBe('https://quay.io/v2/')
    expect(registryURL('localhost:5000/node:v1')).toBe('https://localhost:5000/v2/')
  })
})

describe('an environment whose node image, charts and images are local', () => {
  it('asks nothing of the internet, and says so', async () => {
    const env = loadConfig('dev')
    env.charts.mirror = { kind: 'folder', path: '/mirror' }
    env.images.archives = '/archives'
    const asked: string[] = []
    const targets = await internetTargets(env, {
      hasImage: async (image) => {
        asked.push(image)
        return true
      },
    })
    expect(asked).toEqual([env.cluster.nodeImage])
    expect(targets).toEqual([])
    const recorded = probes(DOCKER_OK)
    const verdict = await preflight(recorded, targets)
    expect(verdict).toMatchObject({ ok: true })
    expect(verdict.message).toContain('all local: nothing fetched from the internet')
    expect(recorded.asked).toEqual(['docker'])
  })
})

describe('the real probes', () => {
  let dir: string
  let server: Server
  let silent: Server
  let base = ''
  let silentBase = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-preflight-'))
    server = createServer((_req, res) => {
      res.statusCode = 401
      res.end()
    })
    // Accepts and never answers: a network that swallows packets.
    silent = createServer(() => {})
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    silentBase = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server.closeAllConnections()
    silent.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await new Promise((resolve) => silent.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  const script = async (name: string, body: string) => {
    const file = join(dir, name)
    await writeFile(file, `#!/bin/sh\n${body}\n`)
    await chmod(file, 0o755)
    return file
  }

  it('reach: any HTTP status is an answer (a registry says 401)', async () => {
    expect(await realProbes.reach(`${base}/v2/`, 2000)).toEqual({ ok: true, detail: 'HTTP 401' })
  })

  it('reach: a closed port and a silent server are no answer', async () => {
    const freed = createServer()
    await new Promise<void>((resolve) => freed.listen(0, '127.0.0.1', resolve))
    const port = (freed.address() as AddressInfo).port
    await new Promise((resolve) => freed.close(resolve))
    const closed = await realProbes.reach(`http://127.0.0.1:${port}/v2/`, 2000)
    expect(closed).toMatchObject({ ok: false })
    expect(closed.detail).toMatch(/ECONNREFUSED|refused/i)
    expect(await realProbes.reach(`${silentBase}/index.yaml`, 300)).toEqual({
      ok: false,
      detail: 'timed out',
    })
  })

  it('docker: not installed, a daemon that does not answer, and one that does', async () => {
    expect(await dockerProbe(join(dir, 'no-such-docker'))()).toEqual({
      ok: false,
      detail: `the ${join(dir, 'no-such-docker')} command is not installed`,
    })
    const down = await script(
      'docker-down',
      'echo "Client: Version 28.2.2"; echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1',
    )
    expect(await dockerProbe(down)()).toEqual({
      ok: false,
      detail:
        '`docker info` failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    })
    const up = await script('docker-up', 'echo 28.2.2')
    expect(await dockerProbe(up)()).toEqual({ ok: true, detail: 'server 28.2.2' })
  })
})

describe('refusal of anything but kind', () => {
  it.each(['local', 'staging', 'prod'])('refuses %s with code 2: the e2e destroys clusters', (name) => {
    const verdict = refuseUnlessKind(loadConfig(name))
    expect(verdict).toMatchObject({ ok: false, code: 2 })
    expect(verdict?.message).toContain(`refusing environment ${name}`)
  })

  it('accepts dev (kind)', () => {
    expect(refuseUnlessKind(loadConfig('dev'))).toBeUndefined()
  })
})

describe('main: refusals and preflight before anything is touched', () => {
  const run = async (argv: string[], recorded: Recorded) => {
    const out: string[] = []
    const err: string[] = []
    const started: EnvConfig[] = []
    const code = await main(argv, {
      load: (name) => loadConfig(name),
      probes: recorded,
      start: async (env) => {
        started.push(env)
        return 0
      },
      out: (line) => out.push(line),
      err: (line) => err.push(line),
    })
    return { code, out, err, started }
  }

  it('no Docker: 77, one line, the run never starts', async () => {
    const result = await run(['--env', 'dev'], probes(NO_DAEMON))
    expect(result.code).toBe(77)
    expect(result.err).toHaveLength(1)
    expect(result.err[0]).toMatch(/Docker is missing/)
    expect(result.started).toEqual([])
  })

  it('no internet: 78, one line, the run never starts', async () => {
    const result = await run(
      ['--env', 'dev'],
      probes(DOCKER_OK, () => ({ ok: false, detail: 'EAI_AGAIN' })),
    )
    expect(result.code).toBe(78)
    expect(result.err).toHaveLength(1)
    expect(result.err[0]).toMatch(/no internet/)
    expect(result.started).toEqual([])
  })

  it('both fine: the run starts on the kind environment and its code is the exit code', async () => {
    const result = await run(['--env', 'dev'], probes(DOCKER_OK))
    expect(result.code).toBe(0)
    expect(result.started.map((env) => env.name)).toEqual(['dev'])
    expect(result.out[0]).toMatch(/^e2e preflight: Docker server 28.2.2/)
  })

  it('a run that cannot start (the checkout unreadable): 1, with the reason', async () => {
    const err: string[] = []
    const code = await main(['--env', 'dev'], {
      load: (name) => loadConfig(name),
      probes: probes(DOCKER_OK),
      start: async () => {
        throw new Error(
          'gitops/runtime-secrets/consumers: no SecretProviderClass with secretObjects (pattern B)',
        )
      },
      out: () => {},
      err: (line) => err.push(line),
    })
    expect(code).toBe(EXIT.failed)
    expect(err).toEqual([
      'e2e: could not start: gitops/runtime-secrets/consumers: no SecretProviderClass with secretObjects (pattern B)',
    ])
  })

  it('a non-kind environment is refused before any probe', async () => {
    const recorded = probes(DOCKER_OK)
    const result = await run(['--env', 'local'], recorded)
    expect(result.code).toBe(2)
    expect(result.err[0]).toMatch(/refusing environment local: it uses provider local/)
    expect(recorded.asked).toEqual([])
    expect(result.started).toEqual([])
  })

  it('an unknown environment or a bad option: 2 with the reason', async () => {
    const unknown = await run(['--env', 'nope'], probes(DOCKER_OK))
    expect(unknown.code).toBe(2)
    expect(unknown.err[0]).toMatch(/unknown environment "nope".*known environments: dev/)
    const bad = await run(['--nope'], probes(DOCKER_OK))
    expect(bad.code).toBe(2)
    expect(bad.err[0]).toMatch(/usage: bun tests\/e2e\/harness.ts --env/)
  })
})

describe('the assertions an environment allows', () => {
  it('patterns A and B only where the include deploys the secret consumers', async () => {
    const { deploysConsumers } = await import('../e2e/real-deps.ts')
    const dev = loadConfig('dev')
    expect(deploysConsumers(dev)).toBe(true)
    const offline = {
      ...dev,
      gitops: {
        ...dev.gitops,
        include: ['platform/*', 'tenants/*', 'runtime-secrets/openbao.yaml', 'overlays/dev.yaml'],
      },
    }
    expect(deploysConsumers(offline)).toBe(false)
  })
})
