import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError } from '../core/errors.ts'
import { envStateDir, repoRoot } from '../core/paths.ts'
import { Redactor } from '../core/redact.ts'
import { parseCli, runSteps, selectSteps, usage } from './cli.ts'
import type { Context } from './context.ts'
import { Logger } from './log.ts'
import type { Step } from './step.ts'

const NAMES = [
  'cluster',
  'secrets',
  'namespaces',
  'age-key',
  'repo-credentials',
  'bootstrap-secrets',
  'argocd',
]

function fakeSteps(ran: string[], behaviour: Record<string, (ctx: Context) => Promise<void>> = {}): Step[] {
  return NAMES.map((name, i) => {
    const id = String(i).padStart(2, '0')
    return {
      id,
      name,
      summary: `${name} done`,
      async run(ctx) {
        ran.push(id)
        await behaviour[id]?.(ctx)
      },
    }
  })
}

describe('parseCli', () => {
  it('defaults to env dev with no flags', () => {
    expect(parseCli([])).toEqual({
      envName: 'dev',
      flags: { dryRun: false, force: false, noSnapshot: false, rotate: [] },
      from: undefined,
      only: undefined,
      positionals: [],
      help: false,
    })
  })

  it('takes the env from the first positional, or from --env / -e', () => {
    expect(parseCli(['local']).envName).toBe('local')
    expect(parseCli(['--env', 'staging']).envName).toBe('staging')
    expect(parseCli(['-e', 'prod']).envName).toBe('prod')
    expect(parseCli(['--env', 'staging', 'local']).envName).toBe('staging')
  })

  it('reads --from, --step, --dry-run, --force and a repeated --rotate', () => {
    const cli = parseCli([
      'local',
      '--from',
      '04',
      '--step',
      '3',
      '--dry-run',
      '--force',
      '--rotate',
      'grafana/admin-password',
      '--rotate',
      'harbor/admin-password',
    ])
    expect(cli).toMatchObject({
      envName: 'local',
      from: '04',
      only: '3',
      flags: { dryRun: true, force: true, rotate: ['grafana/admin-password', 'harbor/admin-password'] },
    })
  })

  it('refuses an unknown option or a missing value as a usage error (exit 2), not as a bug', () => {
    for (const [argv, said] of [
      [['--frm', '04'], "unknown option '--frm'"],
      [['--from'], "option '--from <value>' argument missing"],
      [['--env', '--help'], "option '--env' argument is ambiguous"],
    ] as const) {
      const error = catchError(() => parseCli([...argv]))
      expect(error).toBeInstanceOf(BootstrapError)
      expect(error).toMatchObject({ message: said, exitCode: 2 })
      expect((error as BootstrapError).hint).toMatch(/--help says what each does/)
    }
  })

  it('reads --help and -h; usage lists the options and every step with what it leaves behind', () => {
    expect(parseCli(['--help']).help).toBe(true)
    expect(parseCli(['local', '-h']).help).toBe(true)
    const text = usage(fakeSteps([]))
    for (const option of ['--env', '--from', '--step', '--dry-run', '--force', '--no-snapshot', '--rotate'])
      expect(text).toContain(option)
    for (const [i, name] of NAMES.entries())
      expect(text).toMatch(new RegExp(`^  0${i} ${name} +${name} done$`, 'm'))
  })
})

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected it to throw')
}

describe('selectSteps', () => {
  const steps = fakeSteps([])
  const ids = (selected: Step[]) => selected.map((step) => step.id)

  it('selects every step by default', () => {
    expect(ids(selectSteps(steps, {}))).toEqual(['00', '01', '02', '03', '04', '05', '06'])
  })

  it('selects from one id on', () => {
    expect(ids(selectSteps(steps, { from: '04' }))).toEqual(['04', '05', '06'])
    expect(ids(selectSteps(steps, { from: '4' }))).toEqual(['04', '05', '06'])
  })

  it('selects a single step, padding its id', () => {
    expect(ids(selectSteps(steps, { only: '3' }))).toEqual(['03'])
    expect(ids(selectSteps(steps, { only: '03' }))).toEqual(['03'])
  })

  it('selects by name', () => {
    expect(ids(selectSteps(steps, { only: 'namespaces' }))).toEqual(['02'])
    expect(ids(selectSteps(steps, { from: 'bootstrap-secrets' }))).toEqual(['05', '06'])
  })

  it('refuses an unknown id and lists the steps', () => {
    let error: unknown
    try {
      selectSteps(steps, { from: '42' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toBe('no step "42"')
    expect((error as BootstrapError).exitCode).toBe(2)
    expect((error as BootstrapError).hint).toBe(
      'steps: 00-cluster, 01-secrets, 02-namespaces, 03-age-key, 04-repo-credentials, 05-bootstrap-secrets, 06-argocd',
    )
  })
})

describe('runSteps', () => {
  let stateDir: string
  let child: ChildProcess | undefined

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'cli-test-'))
    vi.stubEnv('PLATFORM_STATE_DIR', stateDir)
  })
  afterEach(() => {
    child?.kill('SIGKILL')
    child = undefined
    vi.unstubAllEnvs()
    rmSync(stateDir, { recursive: true, force: true })
  })
  afterAll(() => vi.restoreAllMocks())

  function logger() {
    const sink = memorySink()
    return { log: new Logger({ sink, redactor: new Redactor() }), lines: sink.lines }
  }

  const lockFile = () => join(envStateDir('local'), 'run.lock')

  it('runs the selected steps in order with the loaded environment, then releases the lock', async () => {
    const ran: string[] = []
    const seen: { env: string; dryRun: boolean; lockHeld: boolean; stateDir: string }[] = []
    const steps = fakeSteps(ran, {
      '03': async (ctx) => {
        seen.push({
          env: ctx.env.name,
          dryRun: ctx.flags.dryRun,
          lockHeld: existsSync(lockFile()),
          stateDir: ctx.stateDir,
        })
      },
    })
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local', '--from', '02']), steps, log)).toBe(0)
    expect(ran).toEqual(['02', '03', '04', '05', '06'])
    expect(seen).toEqual([{ env: 'local', dryRun: false, lockHeld: true, stateDir: join(stateDir, 'local') }])
    expect(log.records.map((r) => `${r.id}:${r.status}`)).toEqual([
      '02:ok',
      '03:ok',
      '04:ok',
      '05:ok',
      '06:ok',
    ])
    expect(lines[0]).toBe('platform-bootstrap: environment local (provider local)')
    expect(lines).toContain('\nsummary')
    expect(existsSync(lockFile())).toBe(false)
  })

  it("starts the selected steps' prefetches before the first of them runs, and no other step's", async () => {
    const ran: string[] = []
    const steps = fakeSteps(ran).map((step) => ({
      ...step,
      prefetch: () => {
        ran.push(`prefetch ${step.id}`)
      },
    }))
    const { log } = logger()
    expect(await runSteps(parseCli(['local', '--from', '04']), steps, log)).toBe(0)
    expect(ran).toEqual(['prefetch 04', 'prefetch 05', 'prefetch 06', '04', '05', '06'])
  })

  it('a dry run takes no lock, and before a cluster exists stops at the first step that needs one, exit 0', async () => {
    const ran: string[] = []
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local', '--from', '02', '--dry-run']), fakeSteps(ran), log)).toBe(0)
    expect(ran).toEqual([])
    expect(lines[0]).toBe(
      'platform-bootstrap: environment local (provider local) — dry run, nothing is changed',
    )
    expect(lines).toContain('no cluster yet: step 02 and the steps after it would create everything they own')
    expect(existsSync(join(stateDir, 'local'))).toBe(false)
  })

  it('stops at a failing step: non-zero, names the step, later steps do not run, earlier ones stay done', async () => {
    const ran: string[] = []
    const steps = fakeSteps(ran, {
      '03': async () => {
        throw new BootstrapError('the cluster age key is missing', {
          hint: 'run `just step 01 local`',
          exitCode: 4,
        })
      },
    })
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local']), steps, log)).toBe(4)
    expect(ran).toEqual(['00', '01', '02', '03'])
    expect(log.records.map((r) => `${r.id}:${r.status}`)).toEqual(['00:ok', '01:ok', '02:ok', '03:failed'])
    expect(lines).toContain('  ✗ step 03-age-key failed: the cluster age key is missing')
    expect(lines).toContain('  ✗ how to fix: run `just step 01 local`')
    expect(lines.some((line) => line.includes('[04]'))).toBe(false)
    expect(lines.some((line) => /^ {2}03 age-key\s+failed/.test(line))).toBe(true)
    expect(existsSync(lockFile())).toBe(false)
  })

  it('reports an unexpected error as a bug with exit code 1', async () => {
    const ran: string[] = []
    const steps = fakeSteps(ran, {
      '01': async () => {
        throw new TypeError('undefined is not a function')
      },
    })
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local']), steps, log)).toBe(1)
    expect(ran).toEqual(['00', '01'])
    expect(lines).toContain('  ✗ step 01-secrets failed: undefined is not a function')
    expect(lines.some((line) => line.includes('this is a bug in platform-bootstrap'))).toBe(true)
  })

  it('refuses an unknown step before running any', async () => {
    const ran: string[] = []
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local', '--step', '42']), fakeSteps(ran), log)).toBe(2)
    expect(ran).toEqual([])
    expect(lines).toContain('  ✗ failed: no step "42"')
  })

  it('refuses an unknown environment with exit code 2', async () => {
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['nope']), fakeSteps([]), log)).toBe(2)
    expect(lines.some((line) => line.includes('unknown environment "nope"'))).toBe(true)
  })

  it('refuses a second concurrent run against the same environment with exit code 3', async () => {
    // The first run: another process holding the environment's lock (taken through lib/runner/lock.ts).
    child = execa(
      join(repoRoot, 'node_modules', '.bin', 'bun'),
      [
        '-e',
        `const { acquireLock } = await import(${JSON.stringify(join(repoRoot, 'lib', 'runner', 'lock.ts'))})
         acquireLock(process.env.LOCK_FILE, 'environment local')
         console.log('locked')
         setTimeout(() => {}, 60_000)`,
      ],
      { env: { LOCK_FILE: lockFile() }, stdio: ['ignore', 'pipe', 'inherit'], buffer: false, reject: false },
    )
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (data: Buffer) => data.toString().includes('locked') && resolve())
      child?.on('exit', (code) => reject(new Error(`the lock holder exited early (${code})`)))
    })
    const ran: string[] = []
    const { log, lines } = logger()
    expect(await runSteps(parseCli(['local']), fakeSteps(ran), log)).toBe(3)
    expect(ran).toEqual([])
    expect(lines).toContain(
      `  ✗ failed: another run is already working on environment local (pid ${child.pid})`,
    )
    // The refused run leaves the other run's lock in place.
    expect(existsSync(lockFile())).toBe(true)

    // Once that run is gone (killed, lock left behind), the next run takes the stale lock over.
    const exited = new Promise((resolve) => child?.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    child = undefined
    expect(existsSync(lockFile())).toBe(true)
    expect(await runSteps(parseCli(['local']), fakeSteps(ran), logger().log)).toBe(0)
    expect(ran).toHaveLength(NAMES.length)
  })
})
