import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BootstrapError } from './errors.ts'
import {
  argocdReplaceArgs,
  type CommandOptions,
  type CommandResult,
  checksumFor,
  ensureTools,
  goModRequire,
  kubernetesReplaceArgs,
  parseGoModReplaces,
  type ToolDeps,
  toolDir,
  toolStatus,
  tools,
  versionMatches,
} from './tools.ts'
import { versions } from './versions.ts'

interface Call {
  command: string
  args: string[]
  env: NodeJS.ProcessEnv
}

type Handler = (call: Call, options: CommandOptions) => CommandResult | undefined

const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '' })

let root: string
let env: NodeJS.ProcessEnv
let pathDir: string
let lines: string[]
let fetched: string[]

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tools-test-'))
  pathDir = join(root, 'bin')
  mkdirSync(pathDir)
  env = { PATH: pathDir, HOME: root, PLATFORM_TOOLS_CACHE: join(root, 'cache') }
  lines = []
  fetched = []
})

afterEach(() => rmSync(root, { recursive: true, force: true }))

function executable(file: string, body = '#!/bin/sh\nexit 0\n'): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, body)
  chmodSync(file, 0o755)
}

/**
 * A command runner standing in for go, pip and the tools themselves. `go install` "builds" by
 * writing the binaries into GOBIN unless a handler says otherwise; every call is recorded.
 */
function fakeDeps(handler: Handler = () => undefined): { deps: Partial<ToolDeps>; calls: Call[] } {
  const calls: Call[] = []
  const run = async (
    command: string,
    args: string[],
    options: CommandOptions = {},
  ): Promise<CommandResult> => {
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

const goCalls = (calls: Call[]) => calls.filter((call) => call.command === 'go')
const actionlint = { name: 'actionlint', version: versions.actionlint }

describe('ensureTools', () => {
  it('takes a complete cached folder as is and builds nothing', async () => {
    const dir = toolDir(actionlint, env)
    executable(join(dir, 'actionlint'))
    writeFileSync(join(dir, 'source.json'), JSON.stringify({ source: 'go-build' }))
    const { deps, calls } = fakeDeps()

    const [result] = await ensureTools(['actionlint'], { deps })

    expect(result).toMatchObject({ action: 'cached', source: 'go-build' })
    expect(calls).toEqual([])
    expect(fetched).toEqual([])
  })

  it('builds once, and a second run finds it cached', async () => {
    const { deps, calls } = fakeDeps()
    const [first] = await ensureTools(['actionlint'], { deps })
    expect(first).toMatchObject({ action: 'installed', source: 'go-build' })
    const source = JSON.parse(readFileSync(join(toolDir(actionlint, env), 'source.json'), 'utf8'))
    expect(source).toMatchObject({ tool: 'actionlint', version: versions.actionlint, source: 'go-build' })
    expect(typeof source.seconds).toBe('number')
    const builds = goCalls(calls).length

    const [second] = await ensureTools(['actionlint'], { deps })
    expect(second).toMatchObject({ action: 'cached' })
    expect(goCalls(calls).length).toBe(builds)
  })

  it('adopts a complete folder without source.json only after checking its version', async () => {
    const dir = toolDir(actionlint, env)
    executable(join(dir, 'actionlint'))
    const { deps, calls } = fakeDeps((call) =>
      call.command === join(dir, 'actionlint') ? ok(`${versions.actionlint}\n`) : undefined,
    )
    const [result] = await ensureTools(['actionlint'], { deps })
    expect(result).toMatchObject({ action: 'cached', source: 'adopted' })
    expect(goCalls(calls)).toEqual([])
    expect(existsSync(join(dir, 'source.json'))).toBe(true)
  })

  it('does not use a PATH binary at another version, and builds the pinned one', async () => {
    executable(join(pathDir, 'kind'))
    const { deps, calls } = fakeDeps((call) =>
      call.command === join(pathDir, 'kind') ? ok('kind v0.20.0 go1.21.0 linux/amd64\n') : undefined,
    )

    const [result] = await ensureTools(['kind'], { deps })

    expect(result).toMatchObject({ action: 'installed', source: 'go-build' })
    expect(lines.join('\n')).toMatch(/kind on PATH .* says v0\.20\.0, not v0\.33\.0: not used/)
    expect(goCalls(calls).some((call) => call.args.includes(`sigs.k8s.io/kind@${versions.kind}`))).toBe(true)
    expect(
      lstatSync(join(toolDir({ name: 'kind', version: versions.kind }, env), 'kind')).isSymbolicLink(),
    ).toBe(false)
  })

  it('links a PATH binary at the pinned version and records source "path"', async () => {
    executable(join(pathDir, 'kind'))
    const { deps, calls } = fakeDeps((call) =>
      call.command === join(pathDir, 'kind') ? ok(`kind ${versions.kind} go1.26.8 linux/amd64\n`) : undefined,
    )
    const [result] = await ensureTools(['kind'], { deps })
    expect(result).toMatchObject({ action: 'installed', source: 'path' })
    expect(goCalls(calls)).toEqual([])
    expect(
      lstatSync(join(toolDir({ name: 'kind', version: versions.kind }, env), 'kind')).isSymbolicLink(),
    ).toBe(true)
  })

  it('probes an unreachable release host once, then falls through to the build', async () => {
    const { deps } = fakeDeps()
    const results = await ensureTools(['actionlint', 'sops'], { deps })
    expect(results.map((r) => r.source)).toEqual(['go-build', 'go-build'])
    expect(fetched).toHaveLength(1) // both on github.com: the second does not wait again
  })

  it('names the tool, the version and the last 20 lines of the log when a build fails', async () => {
    const output = Array.from({ length: 30 }, (_, i) => `compile error line ${i + 1}`).join('\n')
    const { deps } = fakeDeps((call) =>
      call.command === 'go' && call.args[0] === 'install'
        ? { exitCode: 1, stdout: '', stderr: output }
        : undefined,
    )

    const error = await ensureTools(['actionlint'], { deps }).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(BootstrapError)
    const { message, hint } = error as BootstrapError
    expect(message).toContain(`actionlint ${versions.actionlint} could not be installed`)
    expect(message).toContain('go install')
    expect(message).toMatch(/compile error line 30$/m)
    expect(message).toMatch(/compile error line 15$/m)
    expect(message).not.toMatch(/compile error line 5$/m) // a tail, not the whole log
    expect(message.split('\n').length).toBeLessThan(25)
    const logFile = join(String(env.PLATFORM_TOOLS_CACHE), 'logs', `actionlint-${versions.actionlint}.log`)
    expect(hint).toContain(logFile)
    expect(readFileSync(logFile, 'utf8')).toMatch(/compile error line 1$/m) // the full log is kept
  })

  it('says to install go when go is missing', async () => {
    const { deps } = fakeDeps((call) =>
      call.command === 'go' ? { exitCode: 127, stdout: '', stderr: '' } : undefined,
    )
    const error = (await ensureTools(['age'], { deps }).catch((e: unknown) => e)) as BootstrapError
    expect(error.hint).toMatch(/is go installed/)
  })

  it('leaves no tool folder behind when a build fails half way', async () => {
    const { deps } = fakeDeps((call) => {
      if (call.command !== 'go' || call.args[0] !== 'install') return undefined
      executable(join(String(call.env.GOBIN), 'actionlint')) // the binary is written, then the step fails
      return { exitCode: 2, stdout: '', stderr: 'killed' }
    })
    await expect(ensureTools(['actionlint'], { deps })).rejects.toBeInstanceOf(BootstrapError)
    expect(existsSync(toolDir(actionlint, env))).toBe(false)
    expect(readdirSync(join(String(env.PLATFORM_TOOLS_CACHE), '.staging'))).toEqual([])
  })

  it('keeps the previous folder when a forced rebuild fails', async () => {
    const dir = toolDir(actionlint, env)
    executable(join(dir, 'actionlint'), '#!/bin/sh\necho previous\n')
    writeFileSync(join(dir, 'source.json'), JSON.stringify({ source: 'go-build' }))
    const { deps } = fakeDeps((call) =>
      call.command === 'go' && call.args[0] === 'install'
        ? { exitCode: 1, stdout: '', stderr: 'boom' }
        : undefined,
    )
    await expect(ensureTools(['actionlint'], { deps, force: true })).rejects.toThrow(/boom/)
    expect(readFileSync(join(dir, 'actionlint'), 'utf8')).toContain('previous')
  })

  it('rejects an unknown tool name and accepts a binary name', async () => {
    const { deps } = fakeDeps()
    await expect(ensureTools(['nope'], { deps })).rejects.toThrow(/unknown tool nope/)
    const [result] = await ensureTools(['age-keygen'], { deps })
    expect(result?.name).toBe('age')
  })
})

describe('toolStatus', () => {
  it('reports cached, PATH-at-wrong-version and missing tools', async () => {
    const dir = toolDir(actionlint, env)
    executable(join(dir, 'actionlint'))
    writeFileSync(join(dir, 'source.json'), JSON.stringify({ source: 'go-build' }))
    executable(join(pathDir, 'kind'))
    const { deps } = fakeDeps((call) => {
      if (call.command === join(dir, 'actionlint')) return ok(`${versions.actionlint}\n`)
      if (call.command === join(pathDir, 'kind')) return ok('kind v0.20.0\n')
      return undefined
    })
    const status = Object.fromEntries((await toolStatus({ deps })).map((s) => [s.name, s]))
    expect(status.actionlint).toMatchObject({ source: 'go-build', cached: true, ok: true, path: dir })
    expect(status.kind).toMatchObject({ source: 'path', ok: false, found: 'v0.20.0' })
    expect(status.etcd).toMatchObject({ source: 'missing', ok: false })
  })
})

describe('go.mod replace derivation', () => {
  const kubernetesGoMod = `module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\t// a comment inside the block
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // trailing comment
)
`

  it('turns every staging replace into the published v0.<minor>.<patch> module', () => {
    expect(kubernetesReplaceArgs(kubernetesGoMod, 'v1.36.3')).toEqual([
      '-replace=k8s.io/api=k8s.io/api@v0.36.3',
      '-replace=k8s.io/client-go=k8s.io/client-go@v0.36.3',
    ])
  })

  const argocdGoMod = `module github.com/argoproj/argo-cd/v3

go 1.27.0

require k8s.io/client-go v0.37.0

replace (
\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4
\t// https://github.com/argoproj/argo-cd/issues/1
\tk8s.io/api => k8s.io/api v0.37.0
\tgopkg.in/yaml.v2 v2.2.1 => gopkg.in/yaml.v2 v2.4.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
`

  it('copies versioned replaces and maps the in-repo gitops-engine to its published tag', () => {
    expect(argocdReplaceArgs(argocdGoMod, 'v3.6.1')).toEqual([
      '-replace=github.com/golang/protobuf=github.com/golang/protobuf@v1.5.4',
      '-replace=k8s.io/api=k8s.io/api@v0.37.0',
      '-replace=gopkg.in/yaml.v2@v2.2.1=gopkg.in/yaml.v2@v2.4.0',
      '-replace=github.com/argoproj/argo-cd/gitops-engine/v3=github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.1',
    ])
  })

  it('refuses a local replace it has no published module for', () => {
    const goMod = 'module x\n\nreplace example.com/thing => ../thing\n'
    expect(() => kubernetesReplaceArgs(goMod, 'v1.36.3')).toThrow(/example.com\/thing => ..\/thing/)
  })

  it('parses both the block and the single-line form', () => {
    expect(parseGoModReplaces(argocdGoMod)).toHaveLength(4)
    expect(goModRequire(argocdGoMod, 'k8s.io/client-go')).toBe('v0.37.0')
    expect(goModRequire(kubernetesGoMod, 'k8s.io/api')).toBe('v0.0.0')
  })
})

describe('helpers', () => {
  it('matches a version only as a whole version', () => {
    expect(versionMatches('Kubernetes v1.36.3', 'v1.36.3')).toBe(true)
    expect(versionMatches('etcd Version: 3.6.16\nGit SHA', 'v3.6.16')).toBe(true)
    expect(versionMatches('argocd: v3.6.1+unknown', 'v3.6.1')).toBe(true)
    expect(versionMatches('Client Version: v1.32.4-dispatcher', 'v1.36.3')).toBe(false)
    expect(versionMatches('v1.36.30', 'v1.36.3')).toBe(false)
    expect(versionMatches('v11.36.3', 'v1.36.3')).toBe(false)
    expect(versionMatches('v3.22', 'v3.22.0')).toBe(false)
  })

  it('reads both checksum file shapes', () => {
    const hash = 'a'.repeat(64)
    expect(checksumFor(`${hash}\n`, 'kubectl')).toBe(hash)
    expect(
      checksumFor(`${'b'.repeat(64)}  other.tar.gz\n${hash} *sops-v3.linux.amd64\n`, 'sops-v3.linux.amd64'),
    ).toBe(hash)
    expect(checksumFor(`${hash}  other\n`, 'mine')).toBeUndefined()
  })
})
