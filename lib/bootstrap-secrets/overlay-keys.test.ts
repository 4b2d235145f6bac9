import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { type EnvConfig, loadConfig } from '../runner/config.ts'
import { generateIdentity, recipientOf } from './age.ts'
import { writeDemoOverlaySecret } from './first-run.ts'
import { assertOverlaysDecryptable, overlaySopsFiles } from './overlay-keys.ts'

/** A workspace: this checkout's gitops/ and environments/, where the test writes its secret files. */
const root = mkdtempSync(join(tmpdir(), 'overlay-keys-'))
cpSync(join(repoRoot, 'gitops'), join(root, 'gitops'), {
  recursive: true,
  filter: (src) => !src.includes(`${join('overlays', 'local', 'secrets')}`),
})
cpSync(join(repoRoot, 'environments'), join(root, 'environments'), { recursive: true })
afterAll(() => rmSync(root, { recursive: true, force: true }))

const env = (name: string): EnvConfig => loadConfig(name, join(root, 'environments'))
const demo = 'gitops/overlays/local/secrets/demo-credentials.secret.yaml'

async function caught(promise: Promise<unknown>): Promise<BootstrapError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(BootstrapError)
  return error as BootstrapError
}

describe('overlaySopsFiles', () => {
  it("lists what the KSOPS generators of the environment's own Applications list", () => {
    expect(overlaySopsFiles(env('local'))).toEqual([
      { file: demo, generator: 'gitops/overlays/local/secret-generator.yaml' },
    ])
    expect(overlaySopsFiles(env('staging')).map((f) => f.file)).toEqual([
      'gitops/overlays/staging/secrets/demo-credentials.secret.yaml',
    ])
  })
})

describe('assertOverlaysDecryptable: before Argo CD renders anything', () => {
  it('passes a file encrypted to the cluster key (and the personal key)', async () => {
    const cluster = await generateIdentity()
    const personal = await generateIdentity()
    rmSync(join(root, demo), { force: true })
    await writeDemoOverlaySecret(
      join(root, demo),
      [personal.recipient, cluster.recipient],
      'a-demo-password-1',
    )
    await expect(assertOverlaysDecryptable(env('local'), cluster.identity)).resolves.toBeUndefined()
  })

  it('stops at a file encrypted to other keys, naming it, its recipients, the cluster key and the fix', async () => {
    const cluster = await generateIdentity()
    const tests = await generateIdentity()
    rmSync(join(root, demo), { force: true })
    await writeDemoOverlaySecret(join(root, demo), [tests.recipient], 'a-demo-password-2')
    const started = performance.now()
    const error = await caught(assertOverlaysDecryptable(env('local'), cluster.identity))
    process.stdout.write(`overlay key preflight refused in ${Math.round(performance.now() - started)} ms\n`)
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain(
      `${demo} is encrypted to ${tests.recipient}, not to the cluster key ${await recipientOf(cluster.identity)}`,
    )
    // The generated dev/local demo Secret: deleting it is the fix, create makes it anew.
    expect(error.hint).toContain(`delete ${demo} and run again`)
    expect(error.message).not.toContain(cluster.identity)
  })

  it('names a listed file that does not exist, and for staging the fix is re-encrypting, not deleting', async () => {
    const cluster = await generateIdentity()
    const error = await caught(assertOverlaysDecryptable(env('staging'), cluster.identity))
    expect(error.message).toContain(
      'gitops/overlays/staging/secrets/demo-credentials.secret.yaml (listed in gitops/overlays/staging/secret-generator.yaml) does not exist',
    )
    expect(error.hint).toContain('just secrets-rotate')
  })
})
