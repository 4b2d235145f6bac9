import { accessSync, constants, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, isAbsolute, relative } from 'node:path'
import { toolsCacheDir } from '../core/paths.ts'
import type { ToolDeps } from './deps.ts'

/** Finding executables on PATH (outside the tools cache), with zx's `which`. */

/**
 * zx's `which`, loaded on the first PATH search. Every run checks its cached tools (isExecutable)
 * and almost none searches PATH, while loading zx takes ~30 ms, a tenth of a create with nothing
 * to do. Required, not imported: the dependency bundle, evaluated whole on every start, holds only
 * what the sources import statically.
 */
function zxWhich(): typeof import('zx').which {
  return (createRequire(import.meta.url)('zx') as typeof import('zx')).which
}

/**
 * Whether `file` is an executable file. Symlinks are followed, so a dangling one is not a tool; a
 * path is checked as it is, never searched for on PATH. The kernel answers for the current user
 * (access(2)), as `which` asks it through its mode bits.
 */
export function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
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
  return (dirs && zxWhich().sync(binary, { path: dirs, nothrow: true })) || undefined
}
