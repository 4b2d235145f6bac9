import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { BootstrapError } from '../core/errors.ts'
import { acquireLock } from './lock.ts'

const dir = mkdtempSync(join(tmpdir(), 'lock-test-'))
let child: ChildProcess | undefined

afterEach(() => {
  child?.kill('SIGKILL')
  child = undefined
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Larger than any pid_max, so no such process exists. */
const GONE_PID = 2_000_000_000

describe('acquireLock', () => {
  it('writes our pid to a 0600 file (making its folder) and removes it on release', () => {
    const file = join(dir, 'a', 'b', 'run.lock')
    const release = acquireLock(file, 'environment test')
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    release()
    expect(existsSync(file)).toBe(false)
    // Free again: a second acquire works.
    acquireLock(file, 'environment test')()
  })

  it('takes over a stale lock whose pid does not exist', () => {
    const file = join(dir, 'stale.lock')
    writeFileSync(file, `${GONE_PID}\n`)
    const release = acquireLock(file, 'environment test')
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`)
    release()
  })

  it('takes over a lock file that holds no pid', () => {
    const file = join(dir, 'garbage.lock')
    writeFileSync(file, 'not a pid\n')
    acquireLock(file, 'environment test')()
    expect(existsSync(file)).toBe(false)
  })

  it('refuses while the owner is alive, with exit code 3, and leaves its lock alone', () => {
    child = execa('sleep', ['30'], { stdio: 'ignore', reject: false })
    const owner = child.pid as number
    expect(owner).toBeGreaterThan(0)
    const file = join(dir, 'live.lock')
    writeFileSync(file, `${owner}\n`)
    let error: unknown
    try {
      acquireLock(file, 'environment test')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).exitCode).toBe(3)
    expect((error as BootstrapError).message).toBe(
      `another run is already working on environment test (pid ${owner})`,
    )
    expect((error as BootstrapError).hint).toContain(file)
    expect(readFileSync(file, 'utf8')).toBe(`${owner}\n`)
  })
})
