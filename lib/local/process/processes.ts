import { spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { processStat } from '../../core/commands-running.ts'
import { BootstrapError, lastLines } from '../../core/errors.ts'
import { waitFor } from '../../core/wait.ts'
import { toolsPath } from '../../tools/catalogue.ts'
import { localLayout } from '../layout.ts'

/**
 * Long-lived processes of the local stack. Each one is started detached (its own process
 * group, not tied to the CLI run that started it: the cluster lives until `destroy`), with
 * stdout and stderr appended to `<state>/logs/<name>.log`, and leaves `<state>/run/<name>.pid`
 * plus `<state>/run/<name>.json` (pid, ports, command line). A pid only counts as running
 * while /proc/<pid>/cmdline still equals the recorded command line, so a reused pid is never
 * mistaken for ours — and never signalled.
 */

export interface ProcessSpec {
  name: string
  /** Absolute path of the binary. */
  command: string
  args: string[]
  /** Added to the base environment (PATH = tools cache first, HOME, locale). */
  env?: Record<string, string>
  cwd?: string
  ports?: Record<string, number>
  /** A hash of its configuration (see component.ts), kept to notice when it changes. */
  fingerprint?: string
  /** Another user to run as (a root run starts Argo CD as its image's uid 999). */
  runAs?: RunAs
}

/** A numeric user and group; the process gets no supplementary groups, as in a container. */
export interface RunAs {
  uid: number
  gid: number
}

export interface ProcessRecord {
  name: string
  pid: number
  /** What /proc/<pid>/cmdline must hold: command and arguments. */
  argv: string[]
  ports: Record<string, number>
  log: string
  startedAt: string
  fingerprint?: string
}

export type StopResult = 'not-running' | 'stopped' | 'killed'

/** Variables the stack's processes inherit from the CLI's environment; everything else is explicit. */
const INHERITED_ENV = ['HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']

export class Processes {
  readonly runDir: string
  readonly logDir: string

  constructor(
    readonly stateDir: string,
    private readonly procRoot = '/proc',
  ) {
    const layout = localLayout(stateDir)
    this.runDir = layout.run
    this.logDir = layout.logs
  }

  logFile(name: string): string {
    return join(this.logDir, `${name}.log`)
  }

  /** The last JSON record of `name`, kept after a stop so a restart can reuse its ports. */
  record(name: string): ProcessRecord | undefined {
    const file = join(this.runDir, `${name}.json`)
    if (!existsSync(file)) return undefined
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord
    } catch {
      return undefined
    }
  }

  /** Every process that ever ran in this state dir (running or not). */
  list(): ProcessRecord[] {
    if (!existsSync(this.runDir)) return []
    return readdirSync(this.runDir)
      .filter((file) => file.endsWith('.json'))
      .map((file) => this.record(file.slice(0, -'.json'.length)))
      .filter((record): record is ProcessRecord => record !== undefined)
  }

  pid(name: string): number | undefined {
    const file = join(this.runDir, `${name}.pid`)
    if (!existsSync(file)) return undefined
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  }

  /** Alive, not a zombie, and still running the command line we started. */
  isRunning(name: string): boolean {
    const pid = this.pid(name)
    const record = this.record(name)
    if (pid === undefined || record === undefined || record.pid !== pid) return false
    return this.pidRuns(pid, record.argv)
  }

  /**
   * Starts `spec` detached, records it, and returns once the child runs the binary (under
   * Bun, spawn returns before the exec). The caller waits for readiness (`waitUntil`).
   */
  async start(spec: ProcessSpec): Promise<ProcessRecord> {
    if (!existsSync(spec.command)) {
      throw new BootstrapError(`${spec.name}: ${spec.command} does not exist`, {
        hint: 'run `just tools` to build or install every pinned tool',
      })
    }
    if (this.isRunning(spec.name)) {
      throw new BootstrapError(`${spec.name} is already running (pid ${this.pid(spec.name)}): stop it first`)
    }
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 })
    mkdirSync(this.logDir, { recursive: true, mode: 0o700 })
    const log = this.logFile(spec.name)
    const fd = openSync(log, 'a', 0o600)
    let pid: number | undefined
    let spawnError: Error | undefined
    try {
      writeSync(fd, `\n=== ${new Date().toISOString()} starting ${spec.name}\n`)
      const child = spawn(spec.command, spec.args, {
        detached: true,
        stdio: ['ignore', fd, fd],
        cwd: spec.cwd,
        env: baseEnv(spec.env),
        ...(spec.runAs ? { uid: spec.runAs.uid, gid: spec.runAs.gid } : {}),
      })
      child.on('error', (error) => {
        spawnError = error // reported below through the missing pid / the readiness wait
      })
      child.unref()
      pid = child.pid
    } finally {
      closeSync(fd)
    }
    if (pid === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 0)) // a spawn failure is reported on the next tick
      const as = spec.runAs ? ` as uid ${spec.runAs.uid}` : ''
      throw new BootstrapError(
        `${spec.name}: could not start ${spec.command}${as}${spawnError ? `: ${spawnError.message}` : ''}`,
        {
          hint: spec.runAs
            ? `uid ${spec.runAs.uid} must be able to reach ${spec.command} and ${spec.cwd ?? 'its working directory'}`
            : undefined,
        },
      )
    }
    const record: ProcessRecord = {
      name: spec.name,
      pid,
      argv: [spec.command, ...spec.args],
      ports: spec.ports ?? {},
      log,
      startedAt: new Date().toISOString(),
      fingerprint: spec.fingerprint,
    }
    writeFileSync(join(this.runDir, `${spec.name}.json`), `${JSON.stringify(record, null, 2)}\n`, {
      mode: 0o600,
    })
    writeFileSync(join(this.runDir, `${spec.name}.pid`), `${pid}\n`, { mode: 0o600 })
    const didNotStart = () => `${spec.name} did not start: ${lastLines(this.logTail(spec.name), 3)}`
    await waitFor(
      `${spec.name} to run ${spec.command}`,
      async () => {
        if (this.pidRuns(record.pid, record.argv)) return true
        if (!existsSync(join(this.procRoot, String(record.pid))) || this.isZombie(record.pid))
          throw new BootstrapError(didNotStart(), { hint: `see ${log}` })
        return false
      },
      { timeoutMs: 10_000, intervalMs: 5, hint: `see ${log}`, timeoutMessage: didNotStart },
    )
    return record
  }

  /**
   * SIGTERM to the process group, SIGKILL after `timeoutMs`, and returns once the process is
   * gone. Does nothing to a pid that no longer runs our command line.
   */
  async stop(name: string, timeoutMs: number): Promise<StopResult> {
    const pid = this.pid(name)
    if (pid === undefined || !this.isRunning(name)) {
      rmSync(join(this.runDir, `${name}.pid`), { force: true })
      return 'not-running'
    }
    const argv = this.record(name)?.argv ?? []
    signalGroup(pid, 'SIGTERM')
    let result: StopResult = 'stopped'
    if (!(await this.waitGone(pid, argv, timeoutMs))) {
      result = 'killed'
      signalGroup(pid, 'SIGKILL')
      if (!(await this.waitGone(pid, argv, 10_000))) {
        throw new BootstrapError(`${name} (pid ${pid}) is still running after SIGKILL`)
      }
    }
    // Children left in its group (git, kustomize, plugins of the repo-server) go with it.
    signalGroup(pid, 'SIGKILL')
    rmSync(join(this.runDir, `${name}.pid`), { force: true })
    return result
  }

  /** The last lines of a process's log, for error messages. */
  logTail(name: string, lines = 12): string {
    const file = this.logFile(name)
    if (!existsSync(file)) return ''
    const text = readFileSync(file, 'utf8')
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trim()
  }

  /**
   * Polls `ready` until it answers true; fails at once when the process exits meanwhile,
   * with the tail of its log.
   */
  async waitUntil(
    name: string,
    what: string,
    ready: () => Promise<boolean>,
    timeoutMs: number,
    intervalMs = 200,
  ): Promise<void> {
    const hint = `see ${this.logFile(name)}`
    await waitFor(
      `${name} to be ${what}`,
      async () => {
        if (!this.isRunning(name))
          throw new BootstrapError(`${name} exited before ${what}: ${lastLines(this.logTail(name), 3)}`, {
            hint,
          })
        return ready().catch(() => false)
      },
      { timeoutMs, intervalMs, hint, timeoutMessage: (seconds) => `${name}: not ${what} after ${seconds} s` },
    )
  }

  private isZombie(pid: number): boolean {
    const state = processStat(pid, this.procRoot)?.state
    return state === undefined || state === 'Z' || state === 'X'
  }

  private pidRuns(pid: number, argv: string[]): boolean {
    try {
      if (this.isZombie(pid)) return false
      const cmdline = readFileSync(join(this.procRoot, String(pid), 'cmdline'), 'utf8')
      return cmdline === `${argv.join('\0')}\0`
    } catch {
      return false
    }
  }

  /** True once the pid no longer runs `argv`; false when it still does after `timeoutMs` (the caller signals harder). */
  private async waitGone(pid: number, argv: string[], timeoutMs: number): Promise<boolean> {
    return waitFor(`pid ${pid} to exit`, async () => !this.pidRuns(pid, argv), {
      timeoutMs,
      intervalMs: 50,
    }).then(
      () => true,
      () => false,
    )
  }
}

/** The environment of every process of the stack: PATH with the tools cache first, a few inherited basics, `extra`. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: toolsPath(process.env.PATH) }
  for (const key of INHERITED_ENV) {
    const value = process.env[key]
    if (value !== undefined) env[key] = value
  }
  return { ...env, ...extra }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // the group is already gone
  }
}
