/** What a run did: names and outcomes, never a value. */

export type Outcome = 'created' | 'updated' | 'replaced' | 'restored' | 'unchanged' | 'kept' | 'skipped'

export interface ReportEntry {
  subject: string
  outcome: Outcome
  note?: string
}

export interface SetupReport {
  dryRun: boolean
  entries: ReportEntry[]
  /** Requests other than GET sent to OpenBao (0 on a run with nothing to do). */
  writes: number
  /** Times the init file was written. */
  initFileWrites: number
}

const CHANGES: Outcome[] = ['created', 'updated', 'replaced', 'restored']

export function formatEntry(entry: ReportEntry, dryRun: boolean): string {
  const verb = dryRun && CHANGES.includes(entry.outcome) ? `would be ${entry.outcome}` : entry.outcome
  return `${entry.subject}: ${verb}${entry.note ? ` (${entry.note})` : ''}`
}

/** The closing tally: what was created or changed, what already was, what was skipped. */
export function summaryLines(report: SetupReport): string[] {
  const count = (outcomes: Outcome[]) => report.entries.filter((e) => outcomes.includes(e.outcome)).length
  const changed = count(CHANGES)
  const lines = [
    `${report.dryRun ? 'would change' : 'changed'} ${changed}, already in place ${count(['unchanged', 'kept'])}, skipped ${count(['skipped'])}`,
  ]
  if (!report.dryRun) {
    lines.push(
      `${report.writes} write request${report.writes === 1 ? '' : 's'} to OpenBao, init file written ${report.initFileWrites} time${report.initFileWrites === 1 ? '' : 's'}`,
    )
  }
  return lines
}
