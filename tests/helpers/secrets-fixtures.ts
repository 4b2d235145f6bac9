import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { type AgeKeyPair, generateIdentity, writeKeyFile } from '../../lib/bootstrap-secrets/age.ts'
import { type Run, run } from '../../lib/core/exec.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { loadConfig } from '../../lib/runner/config.ts'
import { listRepoFiles } from '../../lib/secrets/check.ts'
import type { SecretsDeps } from '../../lib/secrets/common.ts'
import { loadSopsConfig } from '../../lib/secrets/sops-rules.ts'
import { decryptDocument, writeEncrypted } from '../../lib/sops/index.ts'

// Real sops and age, keys made here at run time (no key is written in this file), and a
// temporary copy of the checkout for everything that writes or plants.

export const value = (label: string) => `${label}-${randomBytes(12).toString('hex')}`

export let tmp: string
export let team: AgeKeyPair
export let stagingCluster: AgeKeyPair
export let prodCluster: AgeKeyPair
export let devCluster: AgeKeyPair
export let stranger: AgeKeyPair
export let teamKeyFile: string
export let deps: SecretsDeps

/** The shared keys and temporary folder, made once per test file that calls this (at its top level). */
export function useSecretsFixtures(): void {
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'secrets-as-code-'))
    team = await generateIdentity()
    stagingCluster = await generateIdentity()
    prodCluster = await generateIdentity()
    devCluster = await generateIdentity()
    stranger = await generateIdentity()
    teamKeyFile = join(tmp, 'keys', 'team.txt')
    await writeKeyFile(teamKeyFile, team.identity)
    deps = { run, env: { ...process.env, SOPS_AGE_KEY_FILE: teamKeyFile } }
  }, 60_000)

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })
}

function inDir(cwd: string): Run {
  return (command, args, options) => run(command, args, { ...options, cwd })
}

/**
 * A copy of what the checkout would commit, in a fresh git repository, with .sops.yaml's example
 * keys swapped for keys made here, staging/prod's bootstrap files re-made for them, and a dev
 * bootstrap file made as `just create dev` would (gitignored, to this machine's keys).
 */
export async function copyTree(): Promise<string> {
  const root = await mkdtemp(join(tmp, 'repo-'))
  const { committable } = await listRepoFiles(repoRoot)
  for (const rel of committable) {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await cp(join(repoRoot, rel), join(root, rel))
  }
  await run('git', ['init', '--quiet'], { cwd: root })
  const real = loadSopsConfig(repoRoot)
  const rule = (prefix: string) => real.rules.find((r) => r.pathRegex.startsWith(prefix))
  const [exampleTeam, exampleStaging] = rule('^gitops/overlays/staging/')?.recipients ?? []
  const [, exampleProd] = rule('^gitops/overlays/prod/')?.recipients ?? []
  expect(exampleTeam && exampleStaging && exampleProd).toBeTruthy()
  const text = readFileSync(join(repoRoot, '.sops.yaml'), 'utf8')
    .replaceAll(exampleTeam as string, team.recipient)
    .replaceAll(exampleStaging as string, stagingCluster.recipient)
    .replaceAll(exampleProd as string, prodCluster.recipient)
  await writeFile(join(root, '.sops.yaml'), text)
  const sopsDeps = { run: inDir(root), env: deps.env }
  for (const [env, cluster] of [
    ['staging', stagingCluster],
    ['prod', prodCluster],
    ['dev', devCluster],
  ] as const) {
    const config = loadConfig(env, join(root, 'environments'))
    const fields = Object.fromEntries(config.secrets.fields.map((field) => [field, 'REPLACE_ME']))
    await writeEncrypted(
      join(root, config.secrets.sopsFile),
      fields,
      [team.recipient, (cluster as AgeKeyPair).recipient],
      sopsDeps,
    )
  }
  return root
}

/** Every file under a folder with its bytes: to show what a run touched and what it did not. */
export function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {}
  const out: Record<string, string> = {}
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = join(dir, rel)
    try {
      out[rel] = readFileSync(file, 'base64')
    } catch {
      // a folder
    }
  }
  return out
}

// biome-ignore lint/suspicious/noExplicitAny: decrypted documents are walked freely; the assertions check them
export type Json = Record<string, any>

export async function decryptJson(root: string, file: string, keyFile = teamKeyFile): Promise<Json> {
  return (await decryptDocument(file, { cwd: root, ageKeyFile: keyFile })) as Json
}
