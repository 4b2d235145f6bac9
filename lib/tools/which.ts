import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, relative } from 'node:path'
import { toolsCacheDir } from '../paths.ts'
import type { ToolDeps } from './deps.ts'

/** Finding executables on PATH (outside the tools cache). */

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK) // follows symlinks: a dangling one is not a tool
    return statSync(file).isFile()
  } catch {
    return false
  }
}

/** PATH without the tools cache: a cached folder is not a PATH find. */
export function searchPath(deps: ToolDeps): string {
  const cache = toolsCacheDir(deps.env)
  return (deps.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && isAbsolute(dir))
    .filter((dir) => relative(cache, dir).startsWith('..'))
    .join(delimiter)
}

export function findOnPath(binary: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, binary)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}
