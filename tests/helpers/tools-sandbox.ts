import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach } from 'vitest'
import type { ExitStatus, StatusOptions } from '../../lib/core/exec.ts'
import { versions } from '../../lib/core/versions.ts'
import { tools } from '../../lib/tools/catalogue.ts'
import type { ToolDeps } from '../../lib/tools/deps.ts'

/**
 * Test fixture shared by install.test.ts and status.test.ts: a temp PATH dir and tools cache per
 * test (`useToolsSandbox()`; `env`, `pathDir`, `lines` and `fetched` are live bindings,
 * reset before each test) and a fake command runner and network (`fakeDeps`).
 */

export interface Call {
  command: string
  args: string[]
  env: NodeJS.ProcessEnv
}

export type Handler = (call: Call, options: StatusOptions) => ExitStatus | undefined

export const ok = (stdout = ''): ExitStatus => ({ exitCode: 0, stdout, stderr: '' })

let root: string
export let env: NodeJS.ProcessEnv
export let pathDir: string
export let lines: string[]
export let fetched: string[]

/** Per test: a fresh temp root with an empty PATH dir and tools cache, removed afterwards. */
export function useToolsSandbox(): void {
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tools-test-'))
    pathDir = join(root, 'bin')
    mkdirSync(pathDir)
    env = { PATH: pathDir, HOME: root, PLATFORM_TOOLS_CACHE: join(root, 'cache') }
    lines = []
    fetched = []
  })

  afterEach(() => rmSync(root, { recursive: true, force: true }))
}

export function executable(file: string, body = '#!/bin/sh\nexit 0\n'): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, body)
  chmodSync(file, 0o755)
}

/**
 * A command runner standing in for go, pip and the tools themselves. `go install` "builds" by
 * writing the binaries into GOBIN unless a handler says otherwise; every call is recorded.
 */
export function fakeDeps(handler: Handler = () => undefined): { deps: Partial<ToolDeps>; calls: Call[] } {
  const calls: Call[] = []
  const run = async (command: string, args: string[], options: StatusOptions = {}): Promise<ExitStatus> => {
    const call = { command, args, env: options.env ?? {} }
    calls.push(call)
    const handled = handler(call, options)
    if (handled) return handled
    if (command === 'go' && args[0] === 'version') return ok('go version go1.26.8 linux/amd64\n')
    if (command === 'go' && args[0] === 'install') {
      const tool = tools.find((t) => args.some((arg) => arg.includes(t.name)))
      for (const binary of tool?.binaries ?? []) executable(join(String(call.env.GOBIN), binary))
      return ok()
    }
    return { exitCode: 127, stdout: '', stderr: `${command}: not faked` }
  }
  const deps: Partial<ToolDeps> = {
    run,
    env,
    fetch: async (url) => {
      fetched.push(url)
      throw new TypeError('fetch failed: getaddrinfo ENOTFOUND')
    },
    log: (line) => lines.push(line),
    platform: 'linux',
    arch: 'x64',
    isRoot: true,
  }
  return { deps, calls }
}

export const actionlint = { name: 'actionlint', version: versions.actionlint }
