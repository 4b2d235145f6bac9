import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  actionlint,
  env,
  executable,
  fakeDeps,
  ok,
  pathDir,
  useToolsSandbox,
} from '../../tests/helpers/tools-sandbox.ts'
import { versions } from '../core/versions.ts'
import { toolDir } from './catalogue.ts'
import { toolStatus } from './status.ts'

useToolsSandbox()

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
