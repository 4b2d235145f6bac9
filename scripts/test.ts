import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { execa, execaSync } from 'execa'
import { envStateDir, personalAgeKeyFile, repoRoot } from '../lib/core/paths.ts'
import { formatMs } from '../lib/runner/log.ts'
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
  // The e2e harness on a real kind cluster, offline; skipped with one line where no Docker engine
  // (with the egress guard) is there — CI installs one (.ci/docker-engine.sh).
  { name: 'kind', command: ['bun', 'tests/e2e/kind-phase.ts'] },
  // Last: what a newcomer does next, on a copy of the checkout as the phases above left it.
  { name: 'readme-order', command: vitest('readme') },
]

const only = process.argv[2]
const selected =
  only === 'unit' ? phases.filter((p) => !['local', 'kind', 'readme-order'].includes(p.name)) : phases
const times: [string, number][] = []
const started = performance.now()
let failed: string | undefined

rmSync(reports, { recursive: true, force: true })
mkdirSync(reports, { recursive: true })
// Tests work in workspaces of their own: the checkout, the personal key and the default state
// folder must be as they were, or the user's `just create local` would meet what a test left.
const before = untouchables()
writeFileSync(join(reports, 'checkout-before.json'), `${JSON.stringify([...before.keys()], null, 2)}\n`)
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

const changed = differences(before, untouchables())
if (changed.length) {
  process.stdout.write(
    `\n=== the test command changed what tests must not touch:\n${changed.map((c) => `  ${c}\n`).join('')}`,
  )
  failed ??= 'checkout-untouched'
}

process.stdout.write('\n=== phase times\n')
for (const [name, ms] of times) process.stdout.write(`  ${name.padEnd(14)} ${formatMs(ms)}\n`)
process.stdout.write(`  ${'total'.padEnd(14)} ${formatMs(performance.now() - started)}\n`)

let passed = 0
let failedTests = 0
for (const project of ['unit', 'local', 'readme']) {
  const file = join(reports, `vitest-${project}.json`)
  if (!existsSync(file)) continue
  const json = JSON.parse(readFileSync(file, 'utf8')) as { numPassedTests: number; numFailedTests: number }
  passed += json.numPassedTests
  failedTests += json.numFailedTests
}
// The kind phase's assertions, counted as the harness counted them.
const kind = join(reports, 'kind-e2e.json')
if (existsSync(kind)) {
  const json = JSON.parse(readFileSync(kind, 'utf8')) as { passed: number; failed: number }
  passed += json.passed
  failedTests += json.failed
}
if (failed) process.stdout.write(`\nphase ${failed} failed\n`)
process.stdout.write(`${passed} passed, ${failedTests} failed\n`)
process.exit(failed || failedTests ? 1 : 0)

/**
 * Every file of the checkout git does not hold as committed — modified, untracked or ignored, outside
 * node_modules/ and reports/ — with a hash of its content, plus the personal age key and the
 * default state folder (present or not, and when last changed).
 */
function untouchables(): Map<string, string> {
  const state = new Map<string, string>()
  const status = execaSync(
    'git',
    ['status', '--porcelain=v1', '-z', '--ignored=matching', '--untracked-files=all'],
    {
      cwd: repoRoot,
    },
  ).stdout
  for (const entry of status.split('\0').filter(Boolean)) {
    const path = entry.slice(3)
    if (/^(node_modules|reports)(\/|$)/.test(path)) continue
    for (const file of filesUnder(join(repoRoot, path)))
      state.set(relative(repoRoot, file), `${entry.slice(0, 2)} ${hashOf(file)}`)
    if (!existsSync(join(repoRoot, path))) state.set(path, `${entry.slice(0, 2)} deleted`)
  }
  const key = personalAgeKeyFile()
  state.set(key, existsSync(key) ? hashOf(key) : 'absent')
  // Names only, two levels deep: a stack of the user's that runs meanwhile writes below them.
  const stateFolder = join(envStateDir('local'), '..')
  const names = (dir: string) =>
    existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir).sort() : []
  for (const env of ['', ...names(stateFolder)])
    state.set(
      join(stateFolder, env),
      existsSync(join(stateFolder, env)) ? names(join(stateFolder, env)).join(' ') : 'absent',
    )
  return state
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .map((rel) => join(path, rel))
    .filter((file) => statSync(file).isFile())
}

function hashOf(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)
}

function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = []
  for (const [path, what] of b)
    if (a.get(path) !== what) out.push(`${a.has(path) ? 'changed' : 'new'}: ${path}`)
  for (const path of a.keys()) if (!b.has(path)) out.push(`gone: ${path}`)
  return out
}
