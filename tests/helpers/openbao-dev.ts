import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { execa } from 'execa'
import { versions } from '../../lib/core/versions.ts'
import { freePort } from '../../lib/local/process/ports.ts'
import { toolDir, toolsPath } from '../../lib/tools/index.ts'
import { armReaper } from './reaper.ts'

/**
 * A real `bao server -dev` for tests: in memory, unsealed, KV v2 at secret/, on a free
 * loopback port, with a known root token. Start it in beforeAll, stop it in afterAll.
 * Helpers talk plain HTTP (fetch), so a test sets up its own paths, policies and tokens.
 */
export interface OpenBaoDev {
  address: string
  port: number
  rootToken: string
  /** The binary that runs, for messages. */
  binary: string
  /** KV v2 write at `secret/data/<path>` (pass the path after `data/`). */
  writeKv(path: string, data: Record<string, unknown>): Promise<void>
  writePolicy(name: string, hcl: string): Promise<void>
  /** A child token of root: renewable, with the given policies and TTL. */
  createToken(policies: string[], ttl?: string): Promise<string>
  /** Seals the server (irreversible for a dev server: use a server of its own). */
  seal(): Promise<void>
  /** Any API call with the root token; returns status and parsed body. */
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: unknown }>
  stop(): Promise<void>
}

/** The bao binary: the pinned one from the tools cache, else one on PATH (BAO_BINARY overrides both). */
export function findBao(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BAO_BINARY && existsSync(env.BAO_BINARY)) return env.BAO_BINARY
  const cached = join(toolDir({ name: 'openbao', version: versions.openbao }, env), 'bao')
  if (existsSync(cached)) return cached
  for (const dir of toolsPath(env.PATH ?? '', env).split(delimiter)) {
    if (dir && existsSync(join(dir, 'bao'))) return join(dir, 'bao')
  }
  return undefined
}

export async function startOpenBaoDev(
  options: { rootToken?: string; startTimeoutMs?: number } = {},
): Promise<OpenBaoDev> {
  const binary = findBao()
  if (!binary) {
    throw new Error(
      `bao ${versions.openbao} not found in the tools cache or on PATH: run \`just tools\` (or set BAO_BINARY)`,
    )
  }
  const rootToken = options.rootToken ?? `root-${Math.random().toString(36).slice(2, 10)}`
  // A free port can be taken between the probe and bao's bind: retry on a fresh one.
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      return await launch(binary, port, rootToken, options.startTimeoutMs ?? 15_000)
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

async function launch(
  binary: string,
  port: number,
  rootToken: string,
  startTimeoutMs: number,
): Promise<OpenBaoDev> {
  const address = `http://127.0.0.1:${port}`
  // Its own HOME: bao must not read or write the developer's ~/.vault-token or config.
  const home = await mkdtemp(join(tmpdir(), 'openbao-dev-'))
  const child = execa(
    binary,
    [
      'server',
      '-dev',
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      '-dev-no-store-token',
      '-log-level=warn',
    ],
    {
      env: { PATH: process.env.PATH ?? '', HOME: home },
      extendEnv: false,
      stdin: 'ignore',
      buffer: false,
      reject: false,
    },
  )
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // A test run that dies before afterAll must not leave a server or its HOME behind.
  const reaper = armReaper()
  reaper.run(child)
  reaper.folder(home)
  let exited: number | null | undefined
  child.once('exit', (code) => {
    exited = code
  })

  const stop = async () => {
    await stopChild(child)
    await rm(home, { recursive: true, force: true })
    reaper.disarm()
  }

  const started = Date.now()
  for (;;) {
    if (exited !== undefined) {
      await rm(home, { recursive: true, force: true })
      reaper.disarm()
      throw new Error(`bao server -dev exited (${exited}) before it was ready:\n${output}`)
    }
    try {
      const response = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(1000) })
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() - started > startTimeoutMs) {
      await stop()
      throw new Error(`bao server -dev not ready on ${address} after ${startTimeoutMs} ms:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const api: OpenBaoDev['api'] = async (method, path, body, token = rootToken) => {
    const response = await fetch(`${address}/v1/${path.replace(/^\//, '')}`, {
      method,
      headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, body: text ? JSON.parse(text) : undefined }
  }
  const must = async (method: string, path: string, body?: unknown) => {
    const result = await api(method, path, body)
    if (result.status >= 300)
      throw new Error(`${method} ${path}: ${result.status} ${JSON.stringify(result.body)}`)
    return result.body
  }

  return {
    address,
    port,
    rootToken,
    binary,
    api,
    stop,
    writeKv: async (path, data) => {
      await must('POST', `secret/data/${path}`, { data })
    },
    writePolicy: async (name, hcl) => {
      await must('PUT', `sys/policies/acl/${name}`, { policy: hcl })
    },
    createToken: async (policies, ttl = '1h') => {
      const body = (await must('POST', 'auth/token/create', { policies, ttl, renewable: true })) as {
        auth: { client_token: string }
      }
      return body.auth.client_token
    },
    seal: async () => {
      await must('PUT', 'sys/seal')
    },
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}
