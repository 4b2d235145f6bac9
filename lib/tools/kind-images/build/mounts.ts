import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ToolDeps } from '../../deps.ts'

/**
 * debootstrap mounts /proc and /sys inside the root it builds and unmounts them at the end; a
 * failed run can leave them. Nothing under a scratch folder is removed while something is mounted there.
 */

/** Mount points at or below `dir`, deepest first, from /proc/mounts text. */
export function mountsUnder(procMounts: string, dir: string): string[] {
  const prefix = resolve(dir)
  return procMounts
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((point): point is string => Boolean(point))
    .filter((point) => point === prefix || point.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length)
}

export async function unmountUnder(deps: ToolDeps, dir: string): Promise<void> {
  let text = ''
  try {
    text = readFileSync('/proc/mounts', 'utf8')
  } catch {
    return
  }
  for (const point of mountsUnder(text, dir)) {
    await deps.run('umount', ['-l', point], { env: deps.env })
  }
}
