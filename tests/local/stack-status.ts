import { Processes } from '../../lib/local/process/processes.ts'
import { STOP_ORDER } from '../../lib/local/stack.ts'

/** What the tests and the bench read of a local stack, and how they kill one whatever its state. */

export interface ProcessStatus {
  name: string
  pid?: number
  ports: Record<string, number>
  running: boolean
  log: string
}

/** Every process the stack knows of in this state dir, in start order. */
export function stackStatus(stateDir: string): ProcessStatus[] {
  const procs = new Processes(stateDir)
  const known = [...STOP_ORDER].reverse()
  const extra = procs
    .list()
    .map((r) => r.name)
    .filter((name) => !known.includes(name))
  return [...known, ...extra]
    .map((name) => ({ name, record: procs.record(name) }))
    .filter(({ record }) => record !== undefined)
    .map(({ name, record }) => {
      const running = procs.isRunning(name)
      return {
        name,
        pid: running ? record?.pid : undefined,
        ports: record?.ports ?? {},
        running,
        log: procs.logFile(name),
      }
    })
}

/**
 * Last resort for a test run that dies: SIGKILL every recorded process group, synchronously,
 * so it can run in a process 'exit' handler. The stack's own stop order does not matter here.
 */
export function killStackSync(stateDir: string): void {
  for (const status of stackStatus(stateDir)) {
    if (!status.running || !status.pid) continue
    try {
      process.kill(-status.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}
