import type { OpenBaoAppConfig } from '../../runner/config.ts'
import type { BaoCall } from '../client.ts'
import type { OpenBaoStorage } from '../endpoint.ts'
import type { InitStore } from '../init-store.ts'
import type { Snapshot } from '../snapshot.ts'
import { InitValues } from './init-values.ts'
import type { KubernetesTarget } from './policy.ts'
import { formatEntry, type Outcome, type ReportEntry, type SetupReport } from './report.ts'
import { BaoRequests } from './requests.ts'

/**
 * One run of setup against one OpenBao: what it is given (options, dependencies), and the session
 * its parts share.
 */

/**
 * `--rotate <app>/<field>`: one configured secret to replace. Here, with the options that carry
 * it: secrets.ts parses and applies them, and already imports this module.
 */
export interface Rotation {
  app: string
  field: string
}

export interface SetupOptions {
  address: string
  kubernetes: KubernetesTarget
  /** The init file as configured (openbao.initFile): named in messages. */
  initFile: string
  apps: OpenBaoAppConfig[]
  rotate: Rotation[]
  dryRun: boolean
  /** Bootstrap secrets, asked for only when a `fromField` value has to be written. */
  bootstrapValues(): Promise<Record<string, string>>
  /** How long OpenBao may take to answer, and to unseal itself; default 60 s. */
  waitMs?: number
  /**
   * The snapshot to restore into an OpenBao that is not initialised yet (openbao.snapshotFile),
   * decrypted before anything is sent: one no key reads stops the run with nothing changed.
   */
  snapshot?: () => Promise<{ snapshot: Snapshot; file: string } | undefined>
  /** OpenBao's storage, where the provider can name it and start it over (endpoint.ts). */
  storage?: OpenBaoStorage
}

export interface SetupDeps {
  call: BaoCall
  initStore: InitStore
  /** A random secret of exactly `length` characters. */
  randomSecret(length: number): string
  sleep(ms: number): Promise<void>
  now(): number
  /** Each entry as it happens (the step prints them; the tally follows at the end). */
  onEntry(line: string): void
}

/** Reporting what setup does, entry by entry: all the parts that only read and write OpenBao need of a run. */
export interface Changes {
  entry(subject: string, outcome: Outcome, note?: string): void
  /** Reports a change and makes it, unless this is a dry run. */
  change(
    subject: string,
    outcome: Outcome,
    note: string | undefined,
    write: () => Promise<unknown>,
  ): Promise<void>
}

/**
 * One run of setup, in three parts that each keep their own state: `bao`, the requests (the
 * token in use lives there), `initValues`, the init file's values (changed only through it), and
 * the entries of the report. The parts that only read and write OpenBao (mounts, access) get `bao`
 * and the session as `Changes`; those that also keep values in the init file get the session.
 */
export class OpenBaoSession implements Changes {
  readonly bao: BaoRequests
  readonly initValues: InitValues
  readonly waitMs: number
  readonly #entries: ReportEntry[] = []

  constructor(
    readonly options: SetupOptions,
    readonly deps: SetupDeps,
  ) {
    this.bao = new BaoRequests(options.address, deps.call, options.initFile)
    this.initValues = new InitValues(deps.initStore, options.dryRun)
    this.waitMs = options.waitMs ?? 60_000
  }

  entry(subject: string, outcome: Outcome, note?: string): void {
    const entry = { subject, outcome, note }
    this.#entries.push(entry)
    this.deps.onEntry(formatEntry(entry, this.options.dryRun))
  }

  async change(
    subject: string,
    outcome: Outcome,
    note: string | undefined,
    write: () => Promise<unknown>,
  ): Promise<void> {
    if (!this.options.dryRun) await write()
    this.entry(subject, outcome, note)
  }

  /** What the run did so far: entries, writes to OpenBao, writes of the init file. */
  report(): SetupReport {
    return {
      dryRun: this.options.dryRun,
      entries: [...this.#entries],
      writes: this.bao.writes,
      initFileWrites: this.initValues.writes,
    }
  }
}
