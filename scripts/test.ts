import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { formatMs } from '../lib/log.ts'
import { repoRoot } from '../lib/paths.ts'
import { toolsPath } from '../lib/tools/index.ts'

/**
 * The README's test command: every phase in order, each timed, stopping at the first failure.
 * `bun scripts/test.ts unit` runs the fast phases only. Vitest runs on Node (verified with
 * client-node 1.4.0 there), the runbook itself on Bun.
 */
interface Phase {
  name: string
  command: string[]
  when?: () => boolean
}

const reports = join(repoRoot, 'reports')
const vitest = (project: string) => [
  'npx',
  'vitest',
  'run',
  '--project',
  project,
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${join(reports, `vitest-${project}.json`)}`,
]

const phases: Phase[] = [
  { name: 'tools', command: ['bun', 'scripts/tools.ts'] },
  { name: 'lint', command: ['npx', 'biome', 'check', '.'] },
  { name: 'typecheck', command: ['npx', 'tsc', '--noEmit', '-p', '.'] },
  {
    name: 'secrets-check',
    command: ['bun', 'scripts/secrets-check.ts'],
    when: () => existsSync(join(repoRoot, 'scripts/secrets-check.ts')),
  },
  { name: 'workflows', command: ['actionlint'], when: () => existsSync(join(repoRoot, '.github/workflows')) },
  { name: 'unit', command: vitest('unit') },
  { name: 'local', command: vitest('local') },
]

const only = process.argv[2]
const selected = only === 'unit' ? phases.filter((p) => p.name !== 'local') : phases
const times: [string, number][] = []
const started = performance.now()
let failed: string | undefined

rmSync(reports, { recursive: true, force: true })
for (const phase of selected) {
  if (phase.when && !phase.when()) continue
  process.stdout.write(`\n=== ${phase.name}: ${phase.command.join(' ')}\n`)
  const t0 = performance.now()
  const result = await execa(phase.command[0] as string, phase.command.slice(1), {
    cwd: repoRoot,
    stdio: 'inherit',
    reject: false,
    env: { PATH: toolsPath(`${join(repoRoot, 'node_modules/.bin')}:${process.env.PATH}`) },
  })
  times.push([phase.name, performance.now() - t0])
  if (result.exitCode !== 0) {
    failed = phase.name
    break
  }
}

process.stdout.write('\n=== phase times\n')
for (const [name, ms] of times) process.stdout.write(`  ${name.padEnd(14)} ${formatMs(ms)}\n`)
process.stdout.write(`  ${'total'.padEnd(14)} ${formatMs(performance.now() - started)}\n`)

let passed = 0
let failedTests = 0
for (const project of ['unit', 'local']) {
  const file = join(reports, `vitest-${project}.json`)
  if (!existsSync(file)) continue
  const json = JSON.parse(readFileSync(file, 'utf8')) as { numPassedTests: number; numFailedTests: number }
  passed += json.numPassedTests
  failedTests += json.numFailedTests
}
if (failed) process.stdout.write(`\nphase ${failed} failed\n`)
process.stdout.write(`${passed} passed, ${failedTests} failed\n`)
process.exit(failed || failedTests ? 1 : 0)
