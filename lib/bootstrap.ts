import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import type { EnvConfig } from './config.ts'
import { generateIdentity, readKeyFile, recipientOf, writeKeyFile } from './age.ts'
import { BootstrapError } from './errors.ts'
import type { Logger } from './log.ts'
import { personalAgeKeyFile, repoRoot } from './paths.ts'
import { redactor } from './redact.ts'
import { decrypt, recipientsOf, writeEncrypted } from './sops.ts'

/**
 * First-run material for environments that may make their own (dev, local): the personal
 * age key, the bootstrap secrets file and the overlay's demo Secret. Each is made only when
 * missing; an existing key or value is never replaced. staging and prod never get here.
 */
export interface FirstRunResult {
  madePersonalKey: boolean
  generatedFields: string[]
}

/** A path from an environment's config: `~/` is the home folder, a relative path is from the checkout. */
export function envPath(file: string): string {
  if (file.startsWith('~/')) return join(homedir(), file.slice(2))
  return isAbsolute(file) ? file : join(repoRoot, file)
}

export async function ensureFirstRunSecrets(env: EnvConfig, log: Logger): Promise<FirstRunResult> {
  const result: FirstRunResult = { madePersonalKey: false, generatedFields: [] }
  if (!env.generateMissingSecrets) return result

  const keyFile = personalAgeKeyFile()
  let personal: string
  if (existsSync(keyFile)) {
    const file = await readKeyFile(keyFile)
    if (file.warning) log.warn(file.warning)
    personal = file.keys[0]?.recipient ?? ''
  } else {
    const made = await generateIdentity()
    await writeKeyFile(keyFile, made.identity)
    personal = made.recipient
    result.madePersonalKey = true
    log.info(`    made your personal age key at ${keyFile} (public key ${personal}); back it up: it decrypts your secrets`)
  }

  const sopsFile = envPath(env.secrets.sopsFile)
  const current = existsSync(sopsFile) ? await decrypt(sopsFile) : {}
  const missing = env.secrets.fields.filter((field) => !(field in current))
  if (missing.length === 0) return result

  const values = { ...current }
  for (const field of missing) values[field] = await generateField(field, env)
  const clusterRecipient = await clusterRecipientOf(values[env.ageKey.field] ?? '')
  const recipients = existsSync(sopsFile) ? await recipientsOf(sopsFile) : [personal, clusterRecipient]
  await writeEncrypted(sopsFile, values, recipients)
  result.generatedFields = missing
  log.info(`    generated ${missing.join(', ')} into ${env.secrets.sopsFile} (encrypted to ${recipients.length} age keys)`)
  return result
}

/** A value for a missing dev field: the cluster age key is an age identity, the unseal key 32 random bytes. */
async function generateField(field: string, env: EnvConfig): Promise<string> {
  if (field === env.ageKey.field) return (await generateIdentity()).identity
  const value = field.includes('unseal') ? randomBytes(32).toString('base64') : randomBytes(24).toString('hex')
  redactor.add(value)
  return value
}

async function clusterRecipientOf(identity: string): Promise<string> {
  if (!identity) throw new BootstrapError('the cluster age key is missing from the bootstrap secrets')
  return recipientOf(identity)
}
