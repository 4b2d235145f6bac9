import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { stringify } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { personalAgeKeyFile } from '../core/paths.ts'
import { redactor } from '../core/redact.ts'
import { type EnvConfig, envPath } from '../runner/config.ts'
import type { Logger } from '../runner/log.ts'
import { decrypt, encryptYaml, recipientsOf, writeEncrypted } from '../sops/index.ts'
import { decryptWith, generateIdentity, readKeyFile, recipientOf, writeKeyFile } from './age.ts'
import { overlaySopsFiles } from './overlay-keys.ts'

/**
 * First-run material for environments that may make their own (dev, local): the personal
 * age key, the bootstrap secrets file and the overlay's demo Secret. Each is made only when
 * missing; an existing key or value is never replaced. staging and prod never get here.
 */
export interface FirstRunResult {
  madePersonalKey: boolean
  generatedFields: string[]
  /** A dry run's bootstrap values, made in memory where the file does not exist yet: never written. */
  inMemory?: Record<string, string>
  /** The bootstrap SOPS file's values as this run read or wrote them: the run decrypts the file once. */
  fileValues?: Record<string, string>
}

export async function ensureFirstRunSecrets(
  env: EnvConfig,
  log: Logger,
  options: { dryRun?: boolean } = {},
): Promise<FirstRunResult> {
  const result: FirstRunResult = { madePersonalKey: false, generatedFields: [] }
  if (!env.generateMissingSecrets) return result
  const dryRun = options.dryRun === true

  const keyFile = personalAgeKeyFile()
  let personal: string
  if (existsSync(keyFile)) {
    const file = await readKeyFile(keyFile)
    if (file.warning) log.warn(file.warning)
    personal = file.keys[0]?.recipient ?? ''
  } else if (dryRun) {
    personal = (await generateIdentity()).recipient
    log.info(`    would make your personal age key at ${keyFile}`)
  } else {
    const made = await generateIdentity()
    await writeKeyFile(keyFile, made.identity)
    personal = made.recipient
    result.madePersonalKey = true
    log.info(
      `    made your personal age key at ${keyFile} (public key ${personal}); back it up: it decrypts your secrets`,
    )
  }

  const fields = await ensureBootstrapFields(env, personal, log, dryRun)
  result.generatedFields = fields.generated
  if (dryRun && fields.generated.length) result.inMemory = fields.values
  else result.fileValues = fields.values
  await ensureDemoOverlaySecret(env, log, dryRun)
  return result
}

async function ensureBootstrapFields(
  env: EnvConfig,
  personal: string,
  log: Logger,
  dryRun: boolean,
): Promise<{ generated: string[]; values: Record<string, string> }> {
  const sopsFile = envPath(env, env.secrets.sopsFile)
  const current = existsSync(sopsFile) ? await decrypt(sopsFile) : {}
  const missing = env.secrets.fields.filter((field) => !(field in current))
  if (missing.length === 0) return { generated: [], values: current }

  const values = { ...current }
  for (const field of missing)
    values[field] =
      field === env.ageKey.field ? await clusterKeyForNewFile(env, log) : await generateField(field, env)
  if (dryRun) {
    log.info(
      `    would generate ${env.secrets.sopsFile} with ${missing.length} fields (${missing.join(', ')}); this dry run uses values made in memory`,
    )
    return { generated: missing, values }
  }
  const clusterRecipient = await clusterRecipientOf(values[env.ageKey.field] ?? '')
  const recipients = existsSync(sopsFile) ? await recipientsOf(sopsFile) : [personal, clusterRecipient]
  await writeEncrypted(sopsFile, values, recipients)
  log.info(
    `    generated ${missing.join(', ')} into ${env.secrets.sopsFile} (encrypted to ${recipients.length} age keys)`,
  )
  return { generated: missing, values }
}

/**
 * The overlay's demo Secret (gitops/overlays/<env>/secrets/demo-credentials.secret.yaml), made
 * once per machine and encrypted to the same two keys as the bootstrap file, so the cluster's
 * KSOPS decrypts it with the cluster key. Only `stringData` is encrypted, as KSOPS expects.
 */
async function ensureDemoOverlaySecret(env: EnvConfig, log: Logger, dryRun: boolean): Promise<void> {
  const relative = join('gitops', 'overlays', env.name, 'secrets', 'demo-credentials.secret.yaml')
  const file = join(env.root, relative)
  if (existsSync(file) || !existsSync(dirname(dirname(file)))) return
  if (dryRun) return log.info(`    would generate ${relative}`)
  const recipients = await recipientsOf(envPath(env, env.secrets.sopsFile))
  await writeDemoOverlaySecret(file, recipients, randomBytes(18).toString('base64url'))
  log.info(`    generated ${relative} (encrypted to ${recipients.length} age keys)`)
}

/** Writes Secret demo-credentials (platform-system) with `stringData` encrypted by sops; never replaces a file. */
export async function writeDemoOverlaySecret(
  file: string,
  recipients: string[],
  password: string,
): Promise<void> {
  redactor.add(password)
  const manifest = stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'demo-credentials', namespace: 'platform-system' },
    type: 'Opaque',
    stringData: { username: 'demo', password },
  })
  const stdout = await encryptYaml(manifest, {
    file,
    recipients,
    outputType: 'yaml',
    encryptedRegex: '^(data|stringData)$',
  })
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, stdout, { mode: 0o644, flag: 'wx' })
}

/**
 * The cluster age key of a bootstrap file that lacks it. Never a new one while an old one can come
 * back: a new key would orphan every overlay Secret encrypted to the old one. From the encrypted
 * backup (ageKey.backupFile) when it exists; refused when overlay SOPS files exist and no backup
 * does (their key is nowhere here); new only when nothing was ever encrypted to one.
 */
async function clusterKeyForNewFile(env: EnvConfig, log: Logger): Promise<string> {
  const backup = envPath(env, env.ageKey.backupFile)
  if (existsSync(backup)) {
    const keyFile = personalAgeKeyFile()
    const identities = (await readKeyFile(keyFile)).keys.map((key) => key.identity)
    const identity = (await decryptWith(identities, await readFile(backup, 'utf8'))).trim()
    redactor.add(identity)
    log.info(
      `    ${env.ageKey.field} came back from its backup ${env.ageKey.backupFile}, not generated anew: the overlays' secrets are encrypted to it`,
    )
    return identity
  }
  const encrypted = overlaySopsFiles(env).filter((f) => existsSync(join(env.root, f.file)))
  if (encrypted.length)
    throw new BootstrapError(
      `${env.secrets.sopsFile} holds no ${env.ageKey.field}, and no backup ${env.ageKey.backupFile} exists, but ${encrypted.map((f) => f.file).join(', ')} ${encrypted.length === 1 ? 'is' : 'are'} encrypted to a cluster key: a new key would orphan ${encrypted.length === 1 ? 'it' : 'them'}`,
      {
        hint: `put the old key back into ${env.secrets.sopsFile} (\`just secrets-edit ${env.name}\`), or, to start over with a new cluster key, delete ${encrypted.map((f) => f.file).join(', ')} and run again`,
        exitCode: 2,
      },
    )
  return (await generateIdentity()).identity
}

/** A value for a missing dev field: the cluster age key is an age identity, the unseal key 32 random bytes. */
async function generateField(field: string, env: EnvConfig): Promise<string> {
  if (field === env.ageKey.field) return (await generateIdentity()).identity
  if (!field.includes('unseal')) return generatedToken()
  const value = randomBytes(32).toString('base64')
  redactor.add(value)
  return value
}

/** A generated credential (a token no server checks: a served checkout's), registered with the redactor. */
export function generatedToken(): string {
  const value = randomBytes(24).toString('hex')
  redactor.add(value)
  return value
}

async function clusterRecipientOf(identity: string): Promise<string> {
  if (!identity) throw new BootstrapError('the cluster age key is missing from the bootstrap secrets')
  return recipientOf(identity)
}
