import { redactor as defaultRedactor, type Redactor } from '../core/redact.ts'

/**
 * Output of a run: numbered step headers, elapsed time per step and a summary table.
 * Every line goes through the redactor, so no secret value resolved during the run
 * reaches the terminal, whatever printed it.
 */
export type StepStatus = 'ok' | 'failed' | 'skipped'
export interface StepRecord {
  id: string
  name: string
  status: StepStatus
  ms: number
  note?: string
}

export interface Sink {
  out(line: string): void
  err(line: string): void
}

const processSink: Sink = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}

export class Logger {
  readonly records: StepRecord[] = []
  private readonly sink: Sink
  private readonly redactor: Redactor

  constructor(options: { sink?: Sink; redactor?: Redactor } = {}) {
    this.sink = options.sink ?? processSink
    this.redactor = options.redactor ?? defaultRedactor
  }

  info(message: string): void {
    this.sink.out(this.redactor.mask(message))
  }

  detail(message: string): void {
    this.sink.out(this.redactor.mask(`    ${message}`))
  }

  warn(message: string): void {
    this.sink.err(this.redactor.mask(`  ! ${message}`))
  }

  error(message: string): void {
    this.sink.err(this.redactor.mask(`  ✗ ${message}`))
  }

  /** Runs `body` as a numbered step: header, elapsed time, and a record for the summary. */
  async step<T>(id: string, name: string, body: () => Promise<T>): Promise<T> {
    this.info(`\n[${id}] ${name}`)
    const started = performance.now()
    try {
      const result = await body()
      const ms = performance.now() - started
      this.records.push({ id, name, status: 'ok', ms })
      this.info(`    done in ${formatMs(ms)}`)
      return result
    } catch (error) {
      this.records.push({ id, name, status: 'failed', ms: performance.now() - started })
      throw error
    }
  }

  skipped(id: string, name: string, note: string): void {
    this.records.push({ id, name, status: 'skipped', ms: 0, note })
  }

  summary(): void {
    if (this.records.length === 0) return
    const width = Math.max(...this.records.map((r) => `${r.id} ${r.name}`.length))
    this.info('\nsummary')
    for (const r of this.records) {
      const label = `${r.id} ${r.name}`.padEnd(width)
      const detail = r.status === 'skipped' ? `skipped${r.note ? ` (${r.note})` : ''}` : formatMs(r.ms)
      this.info(`  ${label}  ${r.status.padEnd(7)} ${detail}`)
    }
    const total = this.records.reduce((sum, r) => sum + r.ms, 0)
    this.info(`  ${'total'.padEnd(width)}          ${formatMs(total)}`)
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}
