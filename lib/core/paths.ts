import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The checkout this code runs from. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Built and downloaded binaries, by name and version, outside the work tree so a fresh clone reuses them. */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLATFORM_TOOLS_CACHE) return resolve(env.PLATFORM_TOOLS_CACHE)
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'platform-bootstrap', 'tools')
}

/** Run state of one environment (the local cluster's processes, certificates, data, logs, the run lock). */
export function envStateDir(envName: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.PLATFORM_STATE_DIR
    ? resolve(env.PLATFORM_STATE_DIR)
    : join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'platform-bootstrap')
  return join(base, envName)
}

/** Where sops looks for the personal age key, unless SOPS_AGE_KEY_FILE says otherwise. */
export function personalAgeKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SOPS_AGE_KEY_FILE) return resolve(env.SOPS_AGE_KEY_FILE)
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'sops', 'age', 'keys.txt')
}
