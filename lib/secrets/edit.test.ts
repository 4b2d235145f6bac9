import { readFileSync } from 'node:fs'
import { chmod, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import {
  copyTree,
  decryptJson,
  deps,
  prodCluster,
  stagingCluster,
  team,
  tmp,
  useSecretsFixtures,
  value,
} from '../../tests/helpers/secrets-fixtures.ts'
import { run } from '../core/exec.ts'
import { recipientsOf } from '../sops/index.ts'
import { editSecrets } from './edit.ts'

useSecretsFixtures()

describe('secrets-edit (real sops, a scripted editor)', () => {
  let root: string
  let editor: string

  beforeAll(async () => {
    root = await copyTree()
    editor = join(tmp, 'editor.sh')
    await writeFile(editor, '#!/bin/sh\nprintf "added_field: %s\\n" "$EDITED_VALUE" >> "$1"\n')
    await chmod(editor, 0o755)
  }, 120_000)

  const withEditor = (command: string, extra: Record<string, string> = {}) => ({
    root,
    deps: { run, env: { ...deps.env, EDITOR: command, SOPS_EDITOR: command, ...extra } },
  })

  it('opens the bootstrap secrets file in sops and keeps what the editor wrote, encrypted', async () => {
    const added = value('edited')
    expect(await editSecrets('staging', withEditor(editor, { EDITED_VALUE: added }))).toBe('changed')
    const file = join(root, 'environments/staging/secrets.sops.yaml')
    expect(readFileSync(file, 'utf8')).not.toContain(added)
    const decrypted = await decryptJson(root, file)
    expect(decrypted.added_field).toBe(added)
    expect(decrypted.github_token_platform).toBe('REPLACE_ME')
    expect((await recipientsOf(file)).sort()).toEqual([team.recipient, stagingCluster.recipient].sort())
  }, 60_000)

  it('says when nothing changed', async () => {
    expect(await editSecrets('staging', withEditor('true'))).toBe('unchanged')
  }, 60_000)

  it('creates a missing file with the keys of its .sops.yaml rule', async () => {
    const file = join(root, 'environments/prod/secrets.sops.yaml')
    await rm(file)
    expect(await editSecrets('prod', withEditor(editor, { EDITED_VALUE: value('new') }))).toBe('created')
    expect((await recipientsOf(file)).sort()).toEqual([team.recipient, prodCluster.recipient].sort())
  }, 60_000)

  it('refuses a per-machine environment without its file, saying to create it first', async () => {
    const error = await caught(editSecrets('local', withEditor(editor)))
    expect(error.hint).toContain('run `just create local` once first')
  })
})
