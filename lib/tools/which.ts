import { delimiter, isAbsolute, relative, resolve } from 'node:path'
import { which } from 'zx'
import { toolsCacheDir } from '../core/paths.ts'
import type { ToolDeps } from './deps.ts'

/** Finding executables on PATH (outside the tools cache), with zx's `which`. */

/** Whether `file` is an executable file; `which` follows symlinks, so a dangling one is not a tool. */
export function isExecutable(file: string): boolean {
  // A path (it has a slash) is checked as it is, never searched for on PATH.
  return which.sync(resolve(file), { nothrow: true }) !== null
}

/** PATH without the tools cache: a cached folder is not a PATH find. */
export function searchPath(deps: Pick<ToolDeps, 'env'>): string {
  const cache = toolsCacheDir(deps.env)
  return (deps.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && isAbsolute(dir))
    .filter((dir) => relative(cache, dir).startsWith('..'))
    .join(delimiter)
}

/**
 * The first `binary` in the folders of `path`. Not `which` alone: it reads an empty `path` as
 * process.env.PATH and an empty entry as the current folder; here the folders given are all there is.
 */
export function findOnPath(binary: string, path: string): string | undefined {
  const dirs = path.split(delimiter).filter(Boolean).join(delimiter)
  return (dirs && which.sync(binary, { path: dirs, nothrow: true })) || undefined
}
