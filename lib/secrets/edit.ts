import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { loadConfig } from '../config.ts'
import { BootstrapError } from '../errors.ts'
import { repoRoot } from '../paths.ts'
import { toolsPath } from '../tools/index.ts'
import {
  defaultDeps,
  displayPath,
  relativeTo,
  resolveEnvFile,
  type SecretsOptions,
  sopsEnv,
} from './common.ts'
import { loadSopsConfig, ruleFor } from './sops-rules.ts'

/**
 * `sops <file>` on an environment's bootstrap secrets file, with the terminal handed over (the
 * editor is interactive). A file that does not exist yet is created by sops with the keys of its
 * .sops.yaml rule; per-machine environments have none there, so their first `just create` makes it.
 */
export async function editSecrets(
  envName: string,
  options: SecretsOptions = {},
): Promise<'changed' | 'unchanged' | 'created'> {
  const root = options.root ?? repoRoot
  const deps = options.deps ?? defaultDeps
  const config = loadConfig(envName, join(root, 'environments'))
  const file = resolveEnvFile(root, config.secrets.sopsFile)
  const shown = displayPath(file, root)
  const existed = existsSync(file)
  if (!existed) {
    const rule = ruleFor(loadSopsConfig(root), relativeTo(root, file))
    if (!rule || rule.recipients.length === 0) {
      throw new BootstrapError(
        `${shown} does not exist yet and .sops.yaml names no keys for it (${envName} is per machine)`,
        { hint: `run \`just create ${envName}\` once first: it makes this machine's keys and that file` },
      )
    }
  }
  const result = await execa('sops', [file], {
    cwd: root,
    env: { ...sopsEnv(deps), PATH: toolsPath(deps.env.PATH ?? process.env.PATH, deps.env) },
    extendEnv: false,
    stdio: 'inherit',
    reject: false,
  })
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new BootstrapError('sops was not found on PATH or in the tools cache', {
      hint: 'run `just tools` to install every pinned tool, or `just doctor` to see what is missing',
      exitCode: 127,
    })
  }
  // sops exits 200 when the editor closed without a change.
  if (result.exitCode === 200) return 'unchanged'
  if (result.exitCode !== 0) {
    throw new BootstrapError(`sops exited ${result.exitCode} editing ${shown} (its message is above)`, {
      hint: existed
        ? 'a decryption error means no key you hold decrypts it: point SOPS_AGE_KEY_FILE at the key of one of its recipients'
        : 'check the .sops.yaml rule for this path',
    })
  }
  return existed ? 'changed' : 'created'
}
