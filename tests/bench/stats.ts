/**
 * Helpers for `just bench` (tests/bench/bench.ts): the statistics of a figure's runs, its target and
 * verdict, and the table it is printed as. Pure functions, so the arithmetic is unit-tested
 * (stats.test.ts) apart from the stack the benchmark needs.
 */

export interface Stats {
  n: number
  median: number
  min: number
  max: number
}

/** Median (the mean of the two middle samples for an even count), min and max of a figure's runs. */
export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('stats of no samples')
  if (samples.some((value) => !Number.isFinite(value)))
    throw new Error(`stats of a non-finite sample: ${samples.join(', ')}`)
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { n: sorted.length, median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number }
}

/** Per-run ratios a[i] / b[i] of two paired series (runs of one iteration measured side by side). */
export function pairedRatios(numerators: readonly number[], denominators: readonly number[]): number[] {
  if (numerators.length !== denominators.length) {
    throw new Error(`paired series differ in length (${numerators.length} and ${denominators.length})`)
  }
  return numerators.map((value, i) => {
    const divisor = denominators[i] as number
    if (divisor <= 0) throw new Error(`ratio with a non-positive divisor (${divisor}) in run ${i + 1}`)
    return value / divisor
  })
}

export type Unit = 'ms' | 'x' | 'count'

/**
 * What a figure must reach: `below` (strictly less than), `atMost` or `atLeast`. Judged on the median, or
 * on every run (`on: 'max'` for `below`, `'min'` for `atLeast`) where one bad run is a failure:
 * a no-op that wrote once has failed even if the median wrote nothing.
 */
export interface Target {
  below?: number
  atMost?: number
  atLeast?: number
  on?: 'median' | 'max' | 'min'
}

export function meetsTarget(figure: Stats, target: Target): boolean {
  const on = target.on ?? 'median'
  const value = figure[on]
  if (target.below !== undefined && !(value < target.below)) return false
  if (target.atMost !== undefined && !(value <= target.atMost)) return false
  if (target.atLeast !== undefined && !(value >= target.atLeast)) return false
  return true
}

/** `< 2 s`, `≥ 5×`, `= 0` (a count below 1), with `every run` when judged on every run. */
export function describeTarget(target: Target, unit: Unit): string {
  const every = target.on && target.on !== 'median' ? ' (every run)' : ''
  if (target.below !== undefined) {
    if (unit === 'count' && target.below === 1) return `= 0${every}`
    return `< ${formatValue(target.below, unit)}${every}`
  }
  if (target.atMost !== undefined) return `≤ ${formatValue(target.atMost, unit)}${every}`
  if (target.atLeast !== undefined) return `≥ ${formatValue(target.atLeast, unit)}${every}`
  return ''
}

/**
 * A duration with the precision a benchmark wants (formatMs rounds to 0.1 s): `4.2 ms`,
 * `183 ms`, `1.27 s`, `64.3 s`; a ratio as `7.4×`; a count as an integer.
 */
export function formatValue(value: number, unit: Unit): string {
  if (unit === 'x') return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`
  if (unit === 'count') return Number.isInteger(value) ? String(value) : value.toFixed(1)
  if (value < 10) return `${value.toFixed(1)} ms`
  if (value < 1000) return `${Math.round(value)} ms`
  if (value < 10_000) return `${(value / 1000).toFixed(2)} s`
  return `${(value / 1000).toFixed(1)} s`
}

/** Columns padded to their widest cell, separated by two spaces; a rule under the header. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(width(title), ...rows.map((row) => width(row[column] ?? ''))),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => pad(cell, widths[column] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** A Markdown table (the README's performance section). Pipes in cells are escaped. */
export function formatMarkdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n')
}

function width(text: string): number {
  return [...text].length
}

function pad(text: string, to: number): string {
  return text + ' '.repeat(Math.max(0, to - width(text)))
}

/** What a phase in its own file (kind.ts, scale.ts) is given by bench.ts: its runs, where to say things, how to record a figure. */
export interface PhaseDeps {
  runs: number
  say(line: string): void
  note(line: string): void
  record(
    id: string,
    title: string,
    unit: Unit,
    samples: number[],
    options?: { target?: Target; note?: string },
  ): void
}
