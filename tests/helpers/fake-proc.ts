import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A folder laid out as /proc for commandsRunning (lib/core/commands-running.ts): `add` gives a pid
 * the command line `argv`, as the kernel writes it (NUL after each argument); `self` is there too,
 * as in the real one, and must be skipped.
 */
export function fakeProc(): { root: string; add(pid: number, argv: string[]): void; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'pb-proc-'))
  mkdirSync(join(root, 'self'))
  return {
    root,
    add(pid, argv) {
      mkdirSync(join(root, String(pid)))
      writeFileSync(join(root, String(pid), 'cmdline'), `${argv.join('\0')}\0`)
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
}
