import { redactor } from '../../core/redact.ts'
import type { InitStore } from '../init-store.ts'

/**
 * The init file's values as this run has them: read once, changed with `set`, written with `save`
 * only when something changed (never on a dry run). Every value is registered with the redactor
 * as it comes in or is set.
 */
export class InitValues {
  #values: Record<string, string> = {}
  #exists = false
  #dirty = false
  #writes = 0

  constructor(
    private readonly store: InitStore,
    private readonly dryRun: boolean,
  ) {}

  async load(): Promise<void> {
    const values = await this.store.read()
    this.#exists = values !== undefined
    this.#values = { ...(values ?? {}) }
    redactor.addAll(Object.values(this.#values))
  }

  /** Whether the file was there when loaded, or has been written since. */
  get exists(): boolean {
    return this.#exists
  }

  /** Times the file was written by this run. */
  get writes(): number {
    return this.#writes
  }

  get(key: string): string | undefined {
    return this.#values[key]
  }

  keys(): string[] {
    return Object.keys(this.#values)
  }

  set(key: string, value: string | undefined): void {
    if (this.#values[key] === value) return
    if (value === undefined) delete this.#values[key]
    else {
      redactor.add(value)
      this.#values[key] = value
    }
    this.#dirty = true
  }

  async save(): Promise<void> {
    if (!this.#dirty || this.dryRun) return
    await this.store.write({ ...this.#values })
    this.#writes++
    this.#exists = true
    this.#dirty = false
  }

  /** That the file can be written, before anything depends on writing it. */
  preflight(): Promise<void> {
    return this.store.preflight()
  }
}
