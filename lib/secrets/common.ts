import { readFile } from 'node:fs/promises'
import { isAbsolute, relative, sep } from 'node:path'
import { run as defaultRun, type Run } from '../core/exec.ts'
import { envPath } from '../runner/config.ts'

/**
 * Secrets as code, on the two-key design (a team key and one cluster key per environment):
 *  - generate (generate.ts): `.env` lines (dotenv.ts) planned to overlays (plan.ts) become
 *    SOPS-encrypted Secrets (secret-file.ts) listed by the overlays' generators (overlays.ts);
 *  - edit (edit.ts): an environment's bootstrap secrets file in sops' editor;
 *  - rotate (rotate.ts): every SOPS file re-encrypted (`sops updatekeys`) for the recipients
 *    .sops.yaml (sops-rules.ts) asks for;
 *  - check (check.ts): nothing secret in clear text, every file encrypted as .sops.yaml says, no
 *    private key.
 * Secret values travel only through stdin/stdout pipes to sops (lib/sops/index.ts, the one module that
 * runs it) and are registered with the redactor as soon as they are read; messages name files,
 * lines and keys, never values.
 * This file: what several of those modules share.
 */
export interface SecretsDeps {
  run: Run
  env: NodeJS.ProcessEnv
}

export interface SecretsOptions {
  /** The checkout to work on (tests pass a temporary copy). */
  root?: string
  deps?: SecretsDeps
}

export const defaultDeps: SecretsDeps = { run: defaultRun, env: process.env }

export function sameSet(a: string[], b: string[]): boolean {
  const left = new Set(a)
  const right = new Set(b)
  return left.size === right.size && [...left].every((item) => right.has(item))
}

/** A text file's content, or undefined for a binary or unreadable one. */
export async function readText(file: string): Promise<string | undefined> {
  try {
    const buffer = await readFile(file)
    if (buffer.length > 20 * 1024 * 1024 || buffer.includes(0)) return undefined
    return buffer.toString('utf8')
  } catch {
    return undefined
  }
}

export function relativeTo(root: string, file: string): string {
  return relative(root, file).split(sep).join('/')
}

export function displayPath(file: string, root = process.cwd()): string {
  const rel = relative(root, file)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : file
}

export function resolveEnvFile(root: string, file: string): string {
  return envPath({ root }, file)
}
