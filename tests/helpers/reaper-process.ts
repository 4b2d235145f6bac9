import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { processStat } from '../../lib/core/commands-running.ts'
import type { ReaperMessage } from './reaper.ts'

/**
 * The detached half of reaper.ts: waits for its stdin to close — the test process that holds the
 * other end has ended — then cleans what the plan file (its first argument) names, and removes the
 * plan. A disarmed reaper is killed before that and does nothing.
 */
const plan = process.argv[2] as string
process.stdin.on('data', () => {}) // nothing is sent: the pipe only tells when the test has ended
process.stdin.once(
  'end',
  () =>
    void reap()
      .catch(() => {})
      .finally(() => {
        rmSync(dirname(plan), { recursive: true, force: true })
        process.exit(0)
      }),
)

/** What it needs is loaded only here: most reapers wait through a test run and are disarmed. */
async function reap(): Promise<void> {
  const stacks = new Set<string>()
  const kindClusters = new Set<string>()
  const folders = new Set<string>()
  const runs = new Set<number>()
  for (const line of readFileSync(plan, 'utf8').split('\n')) {
    if (!line.trim()) continue
    const message = JSON.parse(line) as ReaperMessage
    if ('stack' in message) stacks.add(message.stack)
    else if ('kindCluster' in message) kindClusters.add(message.kindCluster)
    else if ('folder' in message) folders.add(message.folder)
    else if ('run' in message) runs.add(message.run)
    else runs.delete(message.ended)
  }
  // A CLI run first, with what it started: left going, it would start the stack's processes again
  // after they were killed, and a `kind create cluster` under it would make a cluster after the
  // delete below. Its children are found before it dies, while they are still its children.
  for (const pid of withDescendants(runs)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  if (kindClusters.size > 0) {
    const { kindDelete } = await import('../../lib/providers/kind-cli.ts')
    const { run } = await import('../../lib/core/exec.ts')
    for (const name of kindClusters) await kindDelete(run, name).catch(() => {})
  }
  if (stacks.size > 0) {
    const { killStackSync } = await import('../local/stack-status.ts')
    const { stopStack } = await import('../../lib/local/stack.ts')
    const { Logger } = await import('../../lib/runner/log.ts')
    const quiet = new Logger({ sink: { out: () => {}, err: () => {} } })
    for (const stateDir of stacks) {
      killStackSync(stateDir)
      // Nothing runs any more: this only wipes what the stack wrote, its node folder under /run included.
      await stopStack(stateDir, { wipe: true, log: quiet, timeoutMs: 1000 }).catch(() => {})
    }
  }
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
}

/** `roots` and every process below them, roots first, from each process's parent in /proc. */
function withDescendants(roots: Set<number>): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const parent = processStat(Number(entry))?.parent
    if (parent === undefined) continue // gone meanwhile
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
  }
  const found = [...roots]
  for (let i = 0; i < found.length; i++) {
    for (const child of children.get(found[i] as number) ?? []) if (!found.includes(child)) found.push(child)
  }
  return found
}
