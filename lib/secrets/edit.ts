import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { loadConfig } from '../runner/config.ts'
import { edit } from '../sops/index.ts'
import { defaultDeps, displayPath, relativeTo, resolveEnvFile, type SecretsOptions } from './common.ts'
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
  if (!existsSync(file)) {
    const rule = ruleFor(loadSopsConfig(root), relativeTo(root, file))
    if (!rule || rule.recipients.length === 0) {
      throw new BootstrapError(
        `${displayPath(file, root)} does not exist yet and .sops.yaml names no keys for it (${envName} is per machine)`,
        { hint: `run \`just create ${envName}\` once first: it makes this machine's keys and that file` },
      )
    }
  }
  return edit(file, { cwd: root }, deps)
}
