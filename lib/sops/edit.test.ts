import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import { ProcessError } from '../core/errors.ts'
import type { Run, RunOptions } from '../core/exec.ts'
import { edit } from './edit.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sops-edit-'))
  await writeFile(join(dir, 'there.sops.yaml'), 'A: ENC[x]\nsops:\n    age:\n        - recipient: age1team\n')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A runner standing in for sops: records the call, ends with `exitCode`. */
function sopsExiting(exitCode: number, calls: { args: string[]; options?: RunOptions }[] = []): Run {
  return async (command, args, options) => {
    calls.push({ args, options })
    if (exitCode !== 0) throw new ProcessError(command, exitCode, '')
    return { stdout: '', stderr: '' }
  }
}

describe('edit', () => {
  it('hands the terminal to sops, untimed, with the key file set', async () => {
    const calls: { args: string[]; options?: RunOptions }[] = []
    const env = { SOPS_AGE_KEY_FILE: join(dir, 'keys.txt') }
    expect(await edit('there.sops.yaml', { cwd: dir }, { run: sopsExiting(0, calls), env })).toBe('changed')
    expect(calls).toEqual([
      {
        args: ['there.sops.yaml'],
        options: expect.objectContaining({ cwd: dir, interactive: true, timeoutMs: undefined }),
      },
    ])
    expect(calls[0]?.options?.env?.SOPS_AGE_KEY_FILE).toBe(join(dir, 'keys.txt'))
  })

  it('says unchanged when sops exits 200, created for a new file, and explains a failure', async () => {
    const deps = (code: number) => ({ run: sopsExiting(code), env: {} })
    expect(await edit('there.sops.yaml', { cwd: dir }, deps(200))).toBe('unchanged')
    expect(await edit('new.sops.yaml', { cwd: dir }, deps(0))).toBe('created')
    const error = await caught(edit('new.sops.yaml', { cwd: dir }, deps(1)))
    expect(error.message).toBe('sops exited 1 editing new.sops.yaml (its message is above)')
  })
})
