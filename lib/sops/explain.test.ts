import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BootstrapError, ProcessError } from '../core/errors.ts'
import { explainFailure } from './explain.ts'

let dir: string
let file: string
let keyFile: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sops-explain-'))
  file = join(dir, 'secrets', 'a.sops.yaml')
  keyFile = join(dir, 'keys.txt')
  await mkdir(join(dir, 'secrets'))
  await writeFile(file, 'A: ENC[x]\nsops:\n    age:\n        - recipient: age1team\n    mac: ENC[x]\n')
  await writeFile(keyFile, '')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const noKey = () =>
  new ProcessError('sops --decrypt', 128, 'Failed to get the data key required to decrypt the SOPS file.')

describe('explainFailure', () => {
  it('names the file relative to where sops ran, its recipients and the key file tried', async () => {
    const error = await explainFailure(noKey(), { file, action: 'decrypt', keyFile, cwd: dir })
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message).toBe(
      `no available age key decrypts secrets/a.sops.yaml: it is encrypted to age1team; key file tried: ${keyFile} (SOPS_AGE_KEY_FILE)`,
    )
  })

  it('says "it" when the caller names the file (a per-file list)', async () => {
    const error = await explainFailure(noKey(), {
      file: 'secrets/a.sops.yaml',
      action: 'update the keys of',
      keyFile: join(dir, 'absent.txt'),
      cwd: dir,
      terse: true,
    })
    expect(error.message).toBe(
      `no age key you hold decrypts it (it is encrypted to age1team; key file ${join(dir, 'absent.txt')}, which does not exist)`,
    )
  })

  it('turns a missing sops into the `just tools` hint with exit code 127', async () => {
    const missing = new BootstrapError('sops was not found on PATH or in the tools cache', { exitCode: 127 })
    const error = (await explainFailure(missing, { file, action: 'encrypt' })) as BootstrapError
    expect(error.message).toBe(`sops is not installed: cannot encrypt ${file}`)
    expect(error.exitCode).toBe(127)
    expect(error.hint).toContain('just tools')
  })

  it('explains an editor run by its exit code: sops printed its message on the terminal', async () => {
    const exited = new ProcessError('sops', 1, '')
    const edited = await explainFailure(exited, { file, action: 'edit', cwd: dir })
    expect(edited.message).toBe('sops exited 1 editing secrets/a.sops.yaml (its message is above)')
    const created = (await explainFailure(exited, { file, action: 'create' })) as BootstrapError
    expect(created.hint).toBe('check the .sops.yaml rule for this path')
    const noKeyInEditor = await explainFailure(new ProcessError('sops', 128, ''), {
      file,
      action: 'edit',
      keyFile,
    })
    expect(noKeyInEditor.message).toContain(`no available age key decrypts ${file}`)
  })

  it('passes an error that is not sops failing through as it is', async () => {
    const other = new Error('disk full')
    expect(await explainFailure(other, { file, action: 'decrypt' })).toBe(other)
  })
})
