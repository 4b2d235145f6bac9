import type { Sink } from '../../lib/runner/log.ts'

/** A sink that keeps lines in memory: tests read what a run would have printed. */
export function memorySink(): Sink & { lines: string[] } {
  const lines: string[] = []
  return { lines, out: (line) => lines.push(line), err: (line) => lines.push(line) }
}
