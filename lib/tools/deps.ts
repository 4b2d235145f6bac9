import { type RunStatus, runStatus } from '../core/exec.ts'

/** What the installer depends on, passed in so tests can swap the command runner, the network and the clock. */

export type Fetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<Response>

export interface ToolDeps {
  /** lib/core/exec.ts runStatus: the env given is the child's whole environment; a non-zero exit is returned. */
  run: RunStatus
  fetch: Fetch
  /** One progress line (stderr by default: stdout stays free for machine-readable output). */
  log: (line: string) => void
  now: () => number
  /** The environment tools are looked up and built in: PATH, HOME, PLATFORM_TOOLS_CACHE, GOPROXY... */
  env: NodeJS.ProcessEnv
  platform: NodeJS.Platform
  arch: string
  isRoot: boolean
}

export function defaultToolDeps(): ToolDeps {
  return {
    run: runStatus,
    fetch: (url, init) => fetch(url, init),
    log: (line) => process.stderr.write(`${line}\n`),
    now: () => Date.now(),
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    isRoot: process.getuid?.() === 0,
  }
}
