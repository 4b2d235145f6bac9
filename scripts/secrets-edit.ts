/**
 * `just secrets-edit <env>`: the environment's bootstrap secrets file (config `secrets.sopsFile`)
 * in sops' editor ($SOPS_EDITOR, else $EDITOR). The terminal is handed to sops; nothing is
 * decrypted to disk by this script.
 */

import { BootstrapError } from '../lib/core/errors.ts'
import { runScript } from '../lib/runner/cli.ts'
import { editSecrets } from '../lib/secrets/edit.ts'

await runScript(async (log) => {
  const envName = process.argv[2]
  if (!envName || envName.startsWith('-')) {
    throw new BootstrapError('which environment? usage: just secrets-edit <env>', { exitCode: 2 })
  }
  const outcome = await editSecrets(envName)
  log.info(
    outcome === 'unchanged'
      ? `${envName}: no change`
      : `${envName}: bootstrap secrets ${outcome} (review with \`git diff\`)`,
  )
  return 0
})
