import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../lib/core/paths.ts'
import { waitFor } from '../../lib/core/wait.ts'

/** tests/helpers/reaper.ts with real processes: a test process killed outright leaves nothing. */
const scratch = mkdtempSync(join(tmpdir(), 'pb-reaper-test-'))
const started: number[] = []
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone, as it should be
    }
  }
  rmSync(scratch, { recursive: true, force: true })
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The test process of reaper-child.ts, once it has said what it started. */
async function testProcess(name: string, mode: 'wait' | 'disarm') {
  const stateDir = join(scratch, name, 'state')
  const folder = join(scratch, name, 'work')
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, 'file'), 'left by the test')
  const child = execa(join(repoRoot, 'node_modules', '.bin', 'bun'), [
    join(repoRoot, 'tests', 'unit', 'reaper-child.ts'),
    stateDir,
    folder,
    mode,
  ])
  const said = await new Promise<{ stack: number; run: number; below: number }>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString())))
    child.catch(reject)
  })
  started.push(said.stack, said.run, said.below)
  return { child, said, stateDir, folder }
}

describe('a reaper', () => {
  it('kills the stack and the run with what it started, and removes the folder, when its test process is SIGKILLed', async () => {
    const { child, said, stateDir, folder } = await testProcess('killed', 'wait')
    expect(alive(said.stack) && alive(said.run) && alive(said.below)).toBe(true)
    child.kill('SIGKILL')
    await child.catch(() => {})
    const left = () =>
      [
        alive(said.stack) ? `the stack's process ${said.stack}` : '',
        alive(said.run) ? `the run ${said.run}` : '',
        alive(said.below) ? `the run's own process ${said.below}` : '',
        existsSync(folder) ? folder : '',
      ].filter(Boolean)
    await waitFor('the reaper to clean up', async () => left().length === 0, {
      timeoutMs: 20_000,
      intervalMs: 100,
      describeLast: () => `left: ${left().join(', ')}`,
    })
    expect(existsSync(join(stateDir, 'run'))).toBe(false)
  }, 30_000)

  it('does nothing once disarmed', async () => {
    const { child, said, folder } = await testProcess('disarmed', 'disarm')
    await child
    // Time a reaper would take to act (the test above: well under a second).
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(alive(said.stack)).toBe(true)
    expect(existsSync(folder)).toBe(true)
  }, 30_000)
})
