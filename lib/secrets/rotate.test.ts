import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  copyTree,
  decryptJson,
  deps,
  devCluster,
  prodCluster,
  snapshot,
  stagingCluster,
  stranger,
  tmp,
  useSecretsFixtures,
  value,
} from '../../tests/helpers/secrets-fixtures.ts'
import { type AgeKeyPair, generateIdentity, writeKeyFile } from '../bootstrap-secrets/age.ts'
import { run } from '../core/exec.ts'
import { checkSecrets } from './check.ts'
import { generateSecrets } from './generate.ts'
import { rotateSecrets } from './rotate.ts'

useSecretsFixtures()

describe('secrets-rotate (real sops)', () => {
  let root: string
  let newStaging: AgeKeyPair

  beforeAll(async () => {
    root = await copyTree()
    const envFile = join(tmp, 'rotate.env')
    await writeFile(envFile, `STAGING_TOKEN=${value('t')}\nPROD_TOKEN=${value('p')}\n`)
    await generateSecrets(envFile, { root, deps })
    newStaging = await generateIdentity()
  }, 120_000)

  it('changes nothing while every file matches .sops.yaml', async () => {
    const tree = () => ({ ...snapshot(join(root, 'gitops')), ...snapshot(join(root, 'environments')) })
    const before = tree()
    const result = await rotateSecrets({ root, deps })
    expect(result.changed).toEqual([])
    expect(result.failed).toEqual([])
    expect(result.unchanged).toEqual(
      expect.arrayContaining([
        'environments/staging/secrets.sops.yaml',
        'gitops/overlays/staging/secrets/token.secret.yaml',
      ]),
    )
    expect(tree()).toEqual(before)
  }, 60_000)

  it('re-encrypts every file of a changed rule for its new recipients, listing them, and only those', async () => {
    const sopsYaml = join(root, '.sops.yaml')
    await writeFile(
      sopsYaml,
      readFileSync(sopsYaml, 'utf8').replaceAll(stagingCluster.recipient, newStaging.recipient),
    )
    expect((await checkSecrets({ root, deps })).map((f) => f.file).sort()).toEqual([
      'environments/staging/secrets.sops.yaml',
      'gitops/overlays/staging/secrets/token.secret.yaml',
    ])
    const prodBefore = readFileSync(join(root, 'gitops/overlays/prod/secrets/token.secret.yaml'))
    const result = await rotateSecrets({ root, deps })
    expect(result.failed).toEqual([])
    expect(result.changed).toEqual([
      {
        file: 'environments/staging/secrets.sops.yaml',
        added: [newStaging.recipient],
        removed: [stagingCluster.recipient],
      },
      {
        file: 'gitops/overlays/staging/secrets/token.secret.yaml',
        added: [newStaging.recipient],
        removed: [stagingCluster.recipient],
      },
    ])
    expect(result.perMachine).toContain('environments/dev/secrets.sops.yaml')
    expect(readFileSync(join(root, 'gitops/overlays/prod/secrets/token.secret.yaml'))).toEqual(prodBefore)
    expect(await checkSecrets({ root, deps })).toEqual([])
    const newKey = join(tmp, 'keys', 'new-staging.txt')
    await writeKeyFile(newKey, newStaging.identity)
    const decrypted = await decryptJson(root, join(root, 'environments/staging/secrets.sops.yaml'), newKey)
    expect(decrypted.github_token_platform).toBe('REPLACE_ME')
  }, 60_000)

  it('names a file no key it holds decrypts', async () => {
    const sopsYaml = join(root, '.sops.yaml')
    await writeFile(
      sopsYaml,
      readFileSync(sopsYaml, 'utf8').replaceAll(prodCluster.recipient, stranger.recipient),
    )
    const strangerDeps = {
      run,
      env: { ...process.env, SOPS_AGE_KEY_FILE: join(tmp, 'keys', 'dev-cluster-only.txt') },
    }
    await writeKeyFile(join(tmp, 'keys', 'dev-cluster-only.txt'), devCluster.identity)
    const result = await rotateSecrets({ root, deps: strangerDeps })
    expect(result.failed.map((f) => f.file)).toEqual([
      'environments/prod/secrets.sops.yaml',
      'gitops/overlays/prod/secrets/token.secret.yaml',
    ])
    expect(result.failed[0]?.reason).toContain('no age key you hold decrypts it')
  }, 60_000)
})
