import { spawn } from 'node:child_process'
import { Processes } from '../../lib/local/process/processes.ts'
import { armReaper } from '../helpers/reaper.ts'

/**
 * reaper.test.ts's test process: arms a reaper over a state dir where it starts one detached
 * process as the local stack does, a folder and a run of its own (with a process below it), prints what it made, and
 * then waits to be killed — or, given `disarm`, disarms the reaper and ends.
 */
const [stateDir, folder, mode] = process.argv.slice(2) as [string, string, string]
const reaper = armReaper()
reaper.stack(stateDir)
reaper.folder(folder)
const record = await new Processes(stateDir).start({ name: 'sleeper', command: '/bin/sleep', args: ['600'] })
// A run with a process of its own below it, as a create runs `kind create cluster`.
const run = spawn('/bin/sh', ['-c', '/bin/sleep 601 & echo $!; wait'], {
  stdio: ['ignore', 'pipe', 'ignore'],
})
reaper.run(run)
const below = await new Promise<number>((resolve) =>
  run.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))),
)
console.log(JSON.stringify({ stack: record.pid, run: run.pid, below }))
if (mode === 'disarm') {
  reaper.disarm()
  process.exit(0)
}
setInterval(() => {}, 60_000) // alive until killed
