/**
 * `just secrets-rotate`: after the recipients in .sops.yaml change, re-encrypts every SOPS file
 * whose recipients differ (`sops updatekeys`) and lists what changed. Needs a key that decrypts
 * them (SOPS_AGE_KEY_FILE, default ~/.config/sops/age/keys.txt).
 */
import { runScript } from '../lib/runner/cli.ts'
import { rotateSecrets } from '../lib/secrets/rotate.ts'

await runScript(async (log) => {
  const result = await rotateSecrets()
  for (const { file, added, removed } of result.changed) {
    log.info(`  re-encrypted  ${file}`)
    for (const recipient of added) log.info(`      + ${recipient}`)
    for (const recipient of removed) log.info(`      - ${recipient}`)
  }
  for (const file of result.perMachine)
    log.info(`  kept          ${file} (per machine: .sops.yaml names no keys for it)`)
  for (const { file, reason } of result.failed) log.error(`${file}: ${reason}`)
  log.info(
    `${result.changed.length} file(s) re-encrypted, ${result.unchanged.length} already up to date, ${result.failed.length} failed`,
  )
  if (result.failed.length > 0) {
    log.error('how to fix: point SOPS_AGE_KEY_FILE at a key that decrypts the files named, then run again')
    return 1
  }
  return 0
})
