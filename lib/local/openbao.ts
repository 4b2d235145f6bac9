import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../core/atomic-file.ts'
import { BootstrapError } from '../core/errors.ts'
import { formatMs, type Logger } from '../runner/log.ts'
import { localLayout } from './layout.ts'
import { localBinary } from './process/binaries.ts'
import { ensureComponent } from './process/component.ts'
import { LOOPBACK } from './process/ports.ts'
import { httpGet } from './process/probe.ts'
import { Processes } from './process/processes.ts'

/**
 * OpenBao for the local environment: `bao server` with raft storage under
 * `<state>/openbao/data` and the static seal reading the unseal key file, so once the
 * runbook has initialised it, it unseals itself on every start.
 * Initialising is the runbook's openbao-setup step, not this.
 */

export const OPENBAO_PROCESS = 'openbao'

/** The static seal's key id; changing it means a seal migration, so it is fixed. */
export const STATIC_SEAL_KEY_ID = 'platform-bootstrap-local-1'

export interface OpenBaoOptions {
  stateDir: string
  /** 32 random bytes, base64 (`openssl rand -base64 32`): lives with the environment's secrets, not in the state dir. */
  unsealKeyFile: string
  log: Logger
  timeoutMs?: number
}

export interface OpenBao {
  /** http://127.0.0.1:<port> */
  address: string
  reused: boolean
}

export async function ensureOpenBao(options: OpenBaoOptions): Promise<OpenBao> {
  const { log } = options
  const started = performance.now()
  checkUnsealKeyFile(options.unsealKeyFile)
  const dir = localLayout(options.stateDir).openbao
  const data = join(dir, 'data')
  const config = join(dir, 'config.hcl')
  mkdirSync(data, { recursive: true, mode: 0o700 })
  // The storage's name, made with it and gone with it (interrupted-init.ts tells storages apart by it).
  const id = storageIdFile(options.stateDir)
  if (!existsSync(id)) writeFileAtomicSync(id, `${randomBytes(16).toString('hex')}\n`, 0o600)
  const procs = new Processes(options.stateDir)

  const bao = await ensureComponent<'api' | 'cluster'>(
    procs,
    {
      name: OPENBAO_PROCESS,
      portKeys: ['api', 'cluster'],
      spec: (ports) => {
        writeFileAtomicSync(
          config,
          openBaoConfig({ ...ports, data, unsealKeyFile: options.unsealKeyFile }),
          0o600,
        )
        return {
          command: localBinary('bao'),
          args: ['server', `-config=${config}`],
          env: { BAO_LOG_LEVEL: 'info' },
          cwd: dir,
          inputs: [config],
        }
      },
      // Any answer will do: 501 is "not initialised", 503 "sealed"; both are the runbook's to act on.
      ready: async ({ api }) => (await httpGet(`http://${LOOPBACK}:${api}/v1/sys/health`)).status > 0,
      readyTimeoutMs: options.timeoutMs ?? 60_000,
    },
    log,
  )
  const address = `http://${LOOPBACK}:${bao.ports.api}`
  log.detail(`openbao: ${bao.outcome} at ${address} in ${formatMs(performance.now() - started)}`)
  return { address, reused: bao.outcome === 'adopted' }
}

/** The file naming the local OpenBao's data folder: a new folder, a new name. */
export const storageIdFile = (stateDir: string) => join(localLayout(stateDir).openbao, 'data.id')

/** OpenBao's data folder thrown away with its name, and OpenBao started on a new, empty one. */
export async function resetOpenBaoStorage(options: OpenBaoOptions): Promise<OpenBao> {
  await new Processes(options.stateDir).stop(OPENBAO_PROCESS, 10_000)
  const dir = localLayout(options.stateDir).openbao
  rmSync(join(dir, 'data'), { recursive: true, force: true })
  rmSync(storageIdFile(options.stateDir), { force: true })
  return ensureOpenBao(options)
}

/** The server's HCL. Only paths and addresses: the key stays in its file. */
export function openBaoConfig(options: {
  api: number
  cluster: number
  data: string
  unsealKeyFile: string
}): string {
  const q = JSON.stringify
  return `# written by platform-bootstrap (lib/local/openbao.ts)
ui            = false
api_addr      = ${q(`http://${LOOPBACK}:${options.api}`)}
cluster_addr  = ${q(`https://${LOOPBACK}:${options.cluster}`)}

storage "raft" {
  path    = ${q(options.data)}
  node_id = "local"
  # One node on loopback: the shortest election timeouts, so init does not wait 5-10 s for a leader.
  performance_multiplier = 1
}

listener "tcp" {
  address         = ${q(`${LOOPBACK}:${options.api}`)}
  cluster_address = ${q(`${LOOPBACK}:${options.cluster}`)}
  tls_disable     = 1
}

seal "static" {
  current_key_id = ${q(STATIC_SEAL_KEY_ID)}
  current_key    = ${q(`file://${options.unsealKeyFile}`)}
}
`
}

/**
 * OpenBao 2.7's static seal reads the key file byte for byte: 32 raw bytes, 64 hex digits or
 * base64 of 32 bytes, and nothing else — a trailing newline (`openssl rand -base64 32 > f`)
 * makes the server exit "unknown encoding for AES-256 key". Checked here so the error says why.
 * The key itself is never printed.
 */
export function checkUnsealKeyFile(file: string): void {
  if (!existsSync(file)) throw new BootstrapError(`the OpenBao unseal key file ${file} does not exist`)
  const raw = readFileSync(file)
  const text = raw.toString('latin1')
  const ok =
    raw.length === 32 ||
    /^[0-9a-fA-F]{64}$/.test(text) ||
    (/^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, 'base64').length === 32)
  if (ok) return
  const hint = /\s$/.test(text)
    ? 'the file ends with whitespace (a newline?): write it without one, e.g. `openssl rand -base64 32 | tr -d "\\n" > file`'
    : 'it must hold 32 random bytes as base64 (`openssl rand -base64 32`, no newline), 64 hex digits or 32 raw bytes'
  throw new BootstrapError(`the OpenBao unseal key file ${file} is not a 256-bit key OpenBao can read`, {
    hint,
  })
}
