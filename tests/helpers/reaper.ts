import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../lib/core/paths.ts'

/**
 * What a test leaves when it dies before its own cleanup runs: the local stack's processes
 * (detached on purpose, so a cluster outlives the CLI run that starts it), a kind cluster, a CLI
 * run still going, and its temp folders. A process 'exit' handler does not run when the test
 * process is killed by SIGKILL or by a signal it does not handle — vitest's workers when vitest
 * itself is stopped, a `timeout` — so a small detached process does the cleaning instead
 * (reaper-process.ts). What to clean goes into a plan file, written synchronously, so it is on disk
 * however soon after the test dies. The reaper holds one end of a pipe; when the test process
 * ends, however it ends, the pipe closes and the reaper does what the plan says. A test that
 * cleans up itself disarms it.
 */
export interface Reaper {
  /** A local stack's state dir: on reaping, its recorded processes killed and what it wrote wiped. */
  stack(stateDir: string): void
  /** A kind cluster deleted on reaping (kind from the tools cache, as lib runs it). */
  kindCluster(name: string): void
  /** A folder removed on reaping (after the stacks). */
  folder(path: string): void
  /** A process this test started and waits on (a CLI run): killed first on reaping, with every process below it, until it exits. */
  run(child: ChildProcess): void
  /** The test cleaned up itself: the reaper ends and does nothing. */
  disarm(): void
}

export type ReaperMessage =
  | { stack: string }
  | { kindCluster: string }
  | { folder: string }
  | { run: number }
  | { ended: number }

export function armReaper(): Reaper {
  // Not through the pipe: a write to a child's stdin can still sit in this process when it dies.
  const planDir = mkdtempSync(join(tmpdir(), 'pb-reaper-'))
  const plan = join(planDir, 'plan')
  writeFileSync(plan, '', { mode: 0o600 })
  const child = spawn(
    join(repoRoot, 'node_modules', '.bin', 'bun'),
    [join(repoRoot, 'tests', 'helpers', 'reaper-process.ts'), plan],
    // Its own session: a Ctrl-C to the test's process group does not stop it before it reaps.
    { detached: true, stdio: ['pipe', 'ignore', 'ignore'], cwd: '/' },
  )
  child.unref()
  // The pipe must not keep the test process alive either.
  ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  child.stdin?.on('error', () => {}) // a reaper already gone: nothing left to tell it
  const send = (message: ReaperMessage) => appendFileSync(plan, `${JSON.stringify(message)}\n`)
  return {
    stack: (stateDir) => send({ stack: stateDir }),
    kindCluster: (name) => send({ kindCluster: name }),
    folder: (path) => send({ folder: path }),
    run: (child) => {
      const pid = child.pid
      if (!pid) return
      send({ run: pid })
      // Once it has exited its pid may be someone else's.
      child.once('exit', () => send({ ended: pid }))
    },
    disarm: () => {
      child.kill('SIGKILL')
      rmSync(planDir, { recursive: true, force: true })
    },
  }
}
