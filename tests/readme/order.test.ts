import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { execa, execaSync } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../lib/core/paths.ts'
import { armReaper } from '../helpers/reaper.ts'
import { killStackSync } from '../local/stack-status.ts'

/**
 * The README's commands in its order and in another: the test command (whose phases ran before
 * this one), then `npx just create local`, `just destroy local`, then the test suite's unit tier
 * again on that same clone — as a newcomer runs it, with no personal key and no state yet, on
 * a copy of the checkout as the earlier phases left it: every file a test wrote into the checkout
 * is copied along (the files that were there before the test command began are the developer's own
 * and stay out), so a leftover that would break a newcomer's create breaks this test first.
 */
const root = mkdtempSync(join(tmpdir(), 'pb-readme-order-'))
const clone = join(root, 'repo')
const stateDir = join(root, 'state')
// Killed half way, this test would leave the stack it started and the clone behind.
const reaper = armReaper()
reaper.stack(join(stateDir, 'local'))
reaper.folder(root)
afterAll(() => {
  killStackSync(join(stateDir, 'local'))
  rmSync(root, { recursive: true, force: true })
  reaper.disarm()
})

/** Tracked and untracked files as on disk, plus what git ignores that the test command made. */
function copyAsLeft(): string[] {
  const baseline = join(repoRoot, 'reports', 'checkout-before.json')
  const before = new Set(existsSync(baseline) ? (JSON.parse(readFileSync(baseline, 'utf8')) as string[]) : [])
  const git = (...args: string[]) =>
    execaSync('git', args, { cwd: repoRoot }).stdout.split('\0').filter(Boolean)
  const files = git('ls-files', '-z', '--cached', '--others', '--exclude-standard')
  const leftovers = git('ls-files', '-z', '--others', '--ignored', '--exclude-standard').filter(
    (file) => !/^(node_modules|reports)\//.test(file) && !before.has(file),
  )
  for (const file of [...files, ...leftovers]) {
    if (!existsSync(join(repoRoot, file))) continue
    mkdirSync(dirname(join(clone, file)), { recursive: true })
    cpSync(join(repoRoot, file), join(clone, file))
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(clone, 'node_modules'))
  return leftovers
}

describe("the README's order: the test command, then create local", () => {
  it('create local converges on the checkout the tests left, for someone with no key and no state yet; destroy; then the unit tier on the same clone reads nothing they left', async () => {
    const leftovers = copyAsLeft()
    // A clone is a git repository (secrets-generate and secrets-rotate list its files with git).
    const git = (...args: string[]) => execaSync('git', args, { cwd: clone })
    git('init', '--quiet', '--initial-branch=main')
    git('add', '--all')
    git(
      '-c',
      'user.name=clone',
      '-c',
      'user.email=clone@localhost',
      'commit',
      '--quiet',
      '--message',
      'clone',
    )
    const env = {
      ...process.env,
      PLATFORM_STATE_DIR: stateDir,
      SOPS_AGE_KEY_FILE: join(root, 'home', '.config', 'sops', 'age', 'keys.txt'),
      FORCE_COLOR: '0',
    }
    const bun = join(repoRoot, 'node_modules', '.bin', 'bun')
    const creating = execa(bun, ['scripts/create.ts', '--env', 'local'], {
      cwd: clone,
      env,
      reject: false,
      all: true,
    })
    reaper.run(creating)
    const create = await creating
    expect(
      create.exitCode,
      `create local on the checkout as the tests left it:\n${String(create.all).slice(-3000)}`,
    ).toBe(0)
    expect(create.all).toMatch(/made your personal age key at /)
    expect(create.all).toMatch(/\d+ Applications Synced\/Healthy after/)
    expect(leftovers, 'files the test command left in the checkout').toEqual([])
    const destroy = await execa(bun, ['scripts/destroy.ts', '--env', 'local'], {
      cwd: clone,
      env,
      reject: false,
      all: true,
    })
    expect(destroy.exitCode, String(destroy.all).slice(-2000)).toBe(0)
    // What that create and destroy left in this clone (the OpenBao snapshot and init file, the
    // bootstrap file, all encrypted to this user's key) must be nothing the test suite reads: it
    // runs its own reads next, on the same clone, as the same user.
    expect(existsSync(join(clone, 'environments/local/openbao-snapshot.age'))).toBe(true)
    const suite = await execa(
      bun,
      [
        'x',
        'vitest',
        'run',
        '--project',
        'unit',
        '--reporter=dot',
        `--outputFile.json=${join(root, 'unit.json')}`,
      ],
      { cwd: clone, env, reject: false, all: true },
    )
    expect(
      suite.exitCode,
      `the unit tier after create and destroy, on the same clone:\n${String(suite.all).slice(-4000)}`,
    ).toBe(0)
  }, 900_000)
})
