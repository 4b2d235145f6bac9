import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  actionlint,
  type Call,
  env,
  executable,
  fakeDeps,
  fetched,
  lines,
  ok,
  pathDir,
  useToolsSandbox,
} from '../../tests/helpers/tools-sandbox.ts'
import { BootstrapError } from '../core/errors.ts'
import { versions } from '../core/versions.ts'
import { toolDir } from './catalogue.ts'
import { ensureTools } from './install.ts'

useToolsSandbox()

const goCalls = (calls: Call[]) => calls.filter((call) => call.command === 'go')

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
