import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import { toolsPath } from '../../tools/catalogue.ts'

/**
 * The absolute path of a binary the local stack runs: the pinned one in the tools cache
 * first, then whatever PATH offers (redis-server is Debian's). Absolute, because the
 * recorded command line is how a running process is recognised.
 */
export function localBinary(name: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of toolsPath(env.PATH ?? '', env).split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this folder
    }
  }
  throw new BootstrapError(`${name} was not found in the tools cache or on PATH`, {
    hint: `run \`just tools\` to install every pinned tool (${name} is needed by the local cluster)`,
    exitCode: 127,
  })
}
