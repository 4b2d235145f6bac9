import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { BootstrapError } from '../core/errors.ts'

/**
 * One run per environment at a time. The lock file holds the owner's pid; a lock whose
 * owner is gone (a crashed or killed run) is taken over, so a crash never needs a manual cleanup.
 */
export function acquireLock(file: string, what: string): () => void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => rmSync(file, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number.parseInt(readFileSync(file, 'utf8'), 10)
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new BootstrapError(`another run is already working on ${what} (pid ${owner})`, {
          hint: `wait for it to finish; if no such run exists, remove ${file}`,
          exitCode: 3,
        })
      }
      rmSync(file, { force: true })
    }
  }
  throw new BootstrapError(`could not take the run lock ${file}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
