import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toolsCacheDir } from '../../lib/core/paths.ts'
import { makeWorkspace, type Workspace } from './workspace.ts'

/**
 * A fresh machine's first `create`: a tool missing from the tools cache (and from PATH) is
 * installed by create itself, with the installer's progress, as the README promises; a dry run
 * says it would and installs nothing. `age` stands for any tool: it builds in seconds.
 */
const cache = mkdtempSync(join(tmpdir(), 'pb-tools-cache-'))
let ws: Workspace

beforeAll(async () => {
  // Every cached tool but age, by link: nothing of the real cache is written.
  for (const name of readdirSync(toolsCacheDir()))
    if (!['age', 'logs', '.staging'].includes(name))
      symlinkSync(join(toolsCacheDir(), name), join(cache, name))
  ws = await makeWorkspace()
}, 120_000)

afterAll(async () => {
  await ws?.dispose()
  rmSync(cache, { recursive: true, force: true })
})

const env = () => ({
  PLATFORM_TOOLS_CACHE: cache,
  // Without any folder that holds an age binary: only the cache could have it.
  PATH: (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !existsSync(join(dir, 'age')))
    .join(delimiter),
})

describe('create on a machine that lacks a tool', () => {
  it('--dry-run says it would install it, and installs nothing', async () => {
    const result = await ws.cli('scripts/create.ts', ['--step', '01', '--dry-run'], { env: env() })
    expect(result.output).toMatch(/would install age v\d+\.\d+\.\d+ into the tools cache first/)
    expect(existsSync(join(cache, 'age'))).toBe(false)
  })

  it('installs it first, with the progress of `just tools`, then runs the step', async () => {
    const result = await ws.cli('scripts/create.ts', ['--step', '01'], { env: env() })
    expect(result.output, result.output).toMatch(/installing what this machine lacks first: age v/)
    expect(result.output).toMatch(/\[tools\] age v[\d.]+: /)
    expect(result.code, result.output).toBe(0)
    expect(existsSync(join(cache, 'age', readdirSync(join(cache, 'age'))[0] ?? '', 'age'))).toBe(true)
  })
})
