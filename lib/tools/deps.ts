import { execa } from 'execa'

/** What the installer depends on, passed in so tests can swap the command runner, the network and the clock. */

export interface CommandResult {
  /** 127 when the command does not exist. */
  exitCode: number
  stdout: string
  stderr: string
}

export interface CommandOptions {
  cwd?: string
  /** The child's whole environment (nothing else is inherited). */
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

/** Runs a command and reports how it ended; never throws for a non-zero exit. */
export type CommandRunner = (
  command: string,
  args: string[],
  options?: CommandOptions,
) => Promise<CommandResult>

export type Fetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<Response>

export interface ToolDeps {
  run: CommandRunner
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

export const runCommand: CommandRunner = async (command, args, options = {}) => {
  const result = await execa(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    extendEnv: false,
    timeout: options.timeoutMs,
    reject: false,
    stdin: 'ignore',
    maxBuffer: 256 * 1024 * 1024,
  })
  if ((result as { code?: string }).code === 'ENOENT') {
    return { exitCode: 127, stdout: '', stderr: `${command}: command not found` }
  }
  const timedOut = result.timedOut ? `\n${command} timed out after ${options.timeoutMs} ms` : ''
  return {
    exitCode: result.exitCode ?? 1,
    stdout: String(result.stdout ?? ''),
    stderr: `${String(result.stderr ?? '')}${timedOut}`,
  }
}

export function defaultToolDeps(): ToolDeps {
  return {
    run: runCommand,
    fetch: (url, init) => fetch(url, init),
    log: (line) => process.stderr.write(`${line}\n`),
    now: () => Date.now(),
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    isRoot: process.getuid?.() === 0,
  }
}
