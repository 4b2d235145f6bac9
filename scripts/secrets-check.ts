/**
 * `just secrets-check` (also a phase of `just test`): fails, naming each file, when a Secret
 * manifest or secrets file under gitops/ or environments/ is not SOPS-encrypted, when a SOPS file
 * is encrypted for other recipients than .sops.yaml asks for, or when a private key would be
 * committed. Reads files only; never decrypts anything.
 */

import { runScript } from '../lib/runner/cli.ts'
import { checkSecrets, formatFinding } from '../lib/secrets/check.ts'

await runScript(async (log) => {
  const findings = await checkSecrets()
  if (findings.length === 0) {
    log.info(
      'secrets-check: ok (no plaintext secret, every SOPS file encrypted as .sops.yaml says, no private key)',
    )
    return 0
  }
  for (const finding of findings) log.error(formatFinding(finding))
  const files = new Set(findings.map((finding) => finding.file)).size
  log.error(`secrets-check: ${findings.length} problem(s) in ${files} file(s)`)
  return 1
})
