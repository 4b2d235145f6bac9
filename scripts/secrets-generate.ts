/**
 * `just secrets-generate [--from .env]`: each KEY=value of the file becomes a SOPS-encrypted
 * Secret (stringData.value) of an overlay: DEV_/STAGING_/PROD_… → that environment (any
 * environment under environments/ has its prefix, LOCAL_ included), APP_* → skipped, the rest →
 * core. Unchanged values leave their files untouched; bad input writes nothing.
 */
import { resolve } from 'node:path'
import { repoRoot } from '../lib/core/paths.ts'
import { parseOptions, runScript } from '../lib/runner/cli.ts'
import { generateSecrets } from '../lib/secrets/generate.ts'

await runScript(async (log) => {
  const { values } = parseOptions(
    {
      args: process.argv.slice(2),
      options: { from: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    },
    'usage: just secrets-generate [--from <file>]',
  )
  if (values.help) {
    log.info('usage: just secrets-generate [--from <file>]   (default: .env at the repository root)')
    return 0
  }
  const envFile = values.from ? resolve(values.from) : resolve(repoRoot, '.env')
  const result = await generateSecrets(envFile)
  for (const { file, why } of result.written) log.info(`  ${why === 'new' ? 'created' : 'updated'}  ${file}`)
  for (const file of result.listed) log.info(`  listed   ${file}`)
  for (const { key, line, reason } of result.skipped) log.info(`  skipped  line ${line} ${key} (${reason})`)
  for (const warning of result.warnings) log.warn(warning)
  log.info(
    `${result.written.length} secret file(s) written, ${result.unchanged.length} unchanged, ${result.listed.length} overlay file(s) updated`,
  )
  if (result.written.length + result.listed.length > 0)
    log.info('review with `git diff`, then commit the staging/prod/core files')
  return 0
})
