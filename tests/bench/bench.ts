import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { parseArgs } from 'node:util'
import { resolveBootstrapSecrets } from '../../lib/bootstrap-secrets/resolve.ts'
import { errorMessage } from '../../lib/core/errors.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { redactor } from '../../lib/core/redact.ts'
import { makeWorkspace } from '../local/workspace.ts'
import { phaseApi, phaseFallback } from './api.ts'
import { phaseCreate, phaseStack, recordCreateVsStack } from './create.ts'
import { benchKind } from './kind.ts'
import { phaseBackup, phaseOpenBao } from './openbao.ts'
import {
  type Bench,
  disarmReaper,
  figures,
  load,
  notes,
  observation,
  observe,
  PHASES,
  type Phase,
  phases,
  quiet,
  type Report,
  record,
  round,
  say,
  scratch,
  stacks,
  stopAndWipe,
} from './recorder.ts'
import { benchScale } from './scale.ts'
import { formatMarkdownTable, formatTable, formatValue, type PhaseDeps, stats } from './stats.ts'
import { phaseTools, recordedToolInstalls } from './tools.ts'

const MIN_RUNS = 5
const REPORT = join(repoRoot, 'reports', 'bench.json')

// ---------------------------------------------------------------------------------------------
// Output.

const TABLE_HEADER = ['figure', 'median', 'min', 'max', 'target', 'verdict']

function tableRows(report: Report): string[][] {
  return report.figures.map((f) => [
    f.title,
    formatValue(f.stats.median, f.unit),
    formatValue(f.stats.min, f.unit),
    formatValue(f.stats.max, f.unit),
    f.targetText ?? '',
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ])
}

function printReport(report: Report): void {
  const out = (line = '') => process.stdout.write(`${line}\n`)
  out(`\nplatform-bootstrap bench — ${report.runs} runs per figure (median, min, max), ${report.generatedAt}`)
  out(
    `machine: ${report.machine.cpus} CPUs, ${report.machine.platform}, bun ${report.machine.bun}; load average ${report.machine.loadAtStart.join(' ')} at start, ${report.machine.loadAtEnd.join(' ')} at end\n`,
  )
  out(formatTable(TABLE_HEADER, tableRows(report)))
  const withNotes = report.figures.filter((f) => f.note)
  if (withNotes.length > 0) out()
  for (const f of withNotes) out(`${f.id}: ${f.note}`)
  if (report.createSteps) {
    const steps = Object.entries(report.createSteps).map(
      ([step, s]) => `${step} ${formatValue(s.median, 'ms')}`,
    )
    out(`\ncreate local, per step (median): ${steps.join(', ')}`)
  }
  if (report.createWaves) {
    const waves = Object.entries(report.createWaves)
      .sort(([, a], [, b]) => a.median - b.median)
      .map(([wave, s]) => `${wave} ${formatValue(s.median, 'ms')}`)
    out(`create local, from spawn (median; Argo CD's whole-second timestamps): ${waves.join(', ')}`)
  }
  if (report.noopSteps) {
    const steps = Object.entries(report.noopSteps).map(
      ([step, s]) => `${step} ${formatValue(s.median, 'ms')}`,
    )
    out(`create local with nothing to change, per step (median): ${steps.join(', ')}`)
  }
  const recorded = (report.toolsRecorded ?? []).filter((t) => t.seconds > 0)
  if (recorded.length > 0) {
    const list = recorded.map((t) => `${t.tool} ${Math.round(t.seconds)} s (${t.source})`).join(', ')
    out(
      `\ntools as the installer recorded them when the real cache was filled (not measured by this run): ${list}`,
    )
  }
  out(
    '\nphases (load average 1/5/15 min at start → end; other processes: the most seen at once, sampled before each run):',
  )
  for (const p of report.phases) {
    const others = Object.entries(p.others)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ')
    out(
      `  ${p.name.padEnd(8)} ${formatValue(p.ms, 'ms').padStart(8)}  load ${p.load.start.join(' ')} → ${p.load.end.join(' ')}  ${others || 'no others'}`,
    )
  }
  for (const note of report.notes) out(`note: ${note}`)
  out(`\nwritten to ${REPORT}`)
}

function printMarkdown(): void {
  if (!existsSync(REPORT)) throw new Error(`${REPORT} does not exist: run \`just bench\` first`)
  const report = JSON.parse(readFileSync(REPORT, 'utf8')) as Report
  process.stdout.write(`${formatMarkdownTable(TABLE_HEADER, tableRows(report))}\n`)
}

// ---------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: String(MIN_RUNS) },
      only: { type: 'string' },
      sizes: { type: 'string' },
      markdown: { type: 'boolean', default: false },
    },
  })
  if (args.markdown) {
    printMarkdown()
    return 0
  }
  const runs = Number(args.runs)
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a positive integer (got ${args.runs})`)
  const selected = args.only ? args.only.split(',').map((p) => p.trim()) : [...PHASES]
  for (const p of selected)
    if (!PHASES.includes(p as Phase)) throw new Error(`no phase ${p}: phases are ${PHASES.join(', ')}`)
  if (runs < MIN_RUNS) notes.push(`${runs} runs per figure: fewer than the ${MIN_RUNS} a verdict needs`)
  if (selected.length < PHASES.length) notes.push(`phases run: ${selected.join(', ')} (not all)`)

  const loadAtStart = load()
  say(
    `${runs} runs per figure; phases ${selected.join(', ')}; ${availableParallelism()} CPUs, load average ${loadAtStart.join(' ')}`,
  )
  const b: Bench = {
    runs,
    platformUp: false,
    createSteps: {},
    createWaves: {},
    noopSteps: {},
    destroySnapshot: [],
  }
  let toolsRecorded: Report['toolsRecorded']
  try {
    const needsWorkspace = selected.some(
      (p) => p === 'create' || p === 'api' || p === 'fallback' || p === 'openbao' || p === 'backup',
    )
    if (needsWorkspace) {
      say('workspace: a throwaway copy of the checkout with planted secrets and its own state dir')
      const ws = await makeWorkspace()
      b.ws = ws
      redactor.addAll(Object.values(ws.planted))
      // This process's own calls (sops, OpenBao setup, the local provider) use the workspace's
      // key and state dir, and its files by absolute path, never this checkout's.
      process.env.PLATFORM_STATE_DIR = ws.stateDir
      process.env.SOPS_AGE_KEY_FILE = ws.keyFile
      const abs = (file: string) => (isAbsolute(file) || file.startsWith('~/') ? file : join(ws.dir, file))
      b.env = {
        ...ws.env,
        secrets: { ...ws.env.secrets, sopsFile: abs(ws.env.secrets.sopsFile) },
        ageKey: { ...ws.env.ageKey, backupFile: abs(ws.env.ageKey.backupFile) },
        openbao: { ...ws.env.openbao, initFile: abs(ws.env.openbao.initFile) },
      }
      const resolved = await resolveBootstrapSecrets(
        { sopsFile: b.env.secrets.sopsFile, fields: b.env.secrets.fields, ageKeyFile: ws.keyFile },
        { log: quiet },
      )
      redactor.addAll(Object.values(resolved.values))
      b.values = resolved.values
    }
    observation.stacks = () => [...(b.ws ? [join(b.ws.stateDir, 'local')] : []), ...stacks]
    const phaseDeps: PhaseDeps = {
      runs: b.runs,
      say,
      note: (line) => notes.push(line),
      record: (id, title, unit, samples, options) => void record(id, title, unit, samples, options),
    }
    const body: Record<Phase, () => Promise<void>> = {
      tools: async () => {
        await phaseTools(b)
        toolsRecorded = recordedToolInstalls()
      },
      stack: () => phaseStack(b, b.env?.cluster.nodes ?? 1),
      create: async () => {
        await phaseCreate(b)
        recordCreateVsStack()
      },
      api: () => phaseApi(b),
      fallback: () => phaseFallback(b),
      openbao: () => phaseOpenBao(b),
      backup: () => phaseBackup(b),
      scale: () =>
        benchScale({ ...phaseDeps, sizes: args.sizes ? args.sizes.split(',').map(Number) : undefined }),
      kind: () => benchKind({ ...phaseDeps, reports: join(repoRoot, 'reports') }),
    }
    for (const name of PHASES) {
      if (!selected.includes(name)) continue
      const start = load()
      observation.seen = {}
      observe()
      say(`phase ${name} (load average ${start.join(' ')})`)
      const started = performance.now()
      await body[name]()
      observe()
      phases.push({
        name,
        ms: Math.round(performance.now() - started),
        load: { start, end: load() },
        others: observation.seen,
      })
    }
  } finally {
    say('stopping everything the bench started')
    for (const dir of [...stacks]) await stopAndWipe(dir).catch(() => {})
    if (b.ws) await b.ws.dispose().catch((error) => say(`workspace clean-up: ${errorMessage(error)}`))
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
    disarmReaper()
  }

  const summarised = (byName: Record<string, number[]>) =>
    Object.keys(byName).length
      ? Object.fromEntries(
          Object.entries(byName).map(([name, samples]) => {
            const s = stats(samples)
            return [name, { ...s, median: round(s.median), samples }]
          }),
        )
      : undefined
  const createSteps = summarised(b.createSteps)
  const createWaves = summarised(b.createWaves)
  const noopSteps = summarised(b.noopSteps)
  const report: Report = {
    generatedAt: new Date().toISOString(),
    runs,
    machine: {
      cpus: availableParallelism(),
      platform: `${process.platform} ${process.arch}`,
      bun: process.versions.bun ?? 'not bun',
      loadAtStart,
      loadAtEnd: load(),
    },
    phases,
    figures,
    createSteps,
    createWaves,
    noopSteps,
    toolsRecorded,
    notes,
  }
  mkdirSync(join(repoRoot, 'reports'), { recursive: true })
  writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`)
  printReport(report)
  return 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`\nbench failed: ${redactor.mask(errorMessage(error))}\n`)
  if (error instanceof Error && error.stack) process.stderr.write(`${redactor.mask(error.stack)}\n`)
  process.exitCode = 1
}
