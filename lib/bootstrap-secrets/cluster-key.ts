import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { personalAgeKeyFile } from '../core/paths.ts'
import { envPath } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { encryptTo, readKeyFile } from './age.ts'

const SECRET = { name: 'ksops-age-key', key: 'age.agekey' }

/**
 * Refuses to replace a cluster age key that differs from the bootstrap one: the cluster's
 * committed secrets are encrypted to the key it has, and a silent swap would break every sync.
 */
export async function guardClusterAgeKey(ctx: Context, identity: string): Promise<void> {
  if (!identity.startsWith('AGE-SECRET-KEY-1')) {
    throw new BootstrapError(`bootstrap field ${ctx.env.ageKey.field} is not an age identity`, {
      hint: `fix it in ${ctx.env.secrets.sopsFile} (\`just secrets-edit ${ctx.env.name}\`) or in Vault`,
    })
  }
  const kube = await ctx.kube()
  const existing = await kube.get({
    apiVersion: 'v1',
    kind: 'Secret',
    name: SECRET.name,
    namespace: ctx.env.argocd.namespace,
  })
  const current = (existing?.data as Record<string, string> | undefined)?.[SECRET.key]
  if (current && Buffer.from(current, 'base64').toString().trim() !== identity.trim()) {
    throw new BootstrapError(
      `Secret ${ctx.env.argocd.namespace}/${SECRET.name} holds a different age key than bootstrap field ${ctx.env.ageKey.field}: not replacing it`,
      {
        hint: 'the secrets in git are encrypted to one of the two; find out which is right, then delete the wrong one yourself',
      },
    )
  }
}

/** Keeps a copy of the cluster key encrypted to the personal key (never plaintext), made once. */
export async function ensureAgeKeyBackup(ctx: Context, identity: string): Promise<void> {
  const file = envPath(ctx.env, ctx.env.ageKey.backupFile)
  if (existsSync(file)) return ctx.log.detail(`backup ${ctx.env.ageKey.backupFile}: exists`)
  const keyFile = personalAgeKeyFile()
  if (!existsSync(keyFile)) {
    return ctx.log.warn(
      `no personal age key at ${keyFile}: cannot make the cluster key backup ${ctx.env.ageKey.backupFile}`,
    )
  }
  const personal = (await readKeyFile(keyFile)).keys.map((key) => key.recipient)
  if (ctx.flags.dryRun) return ctx.log.detail(`backup ${ctx.env.ageKey.backupFile}: would be created`)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, await encryptTo(personal, identity), { mode: 0o600, flag: 'wx' })
  ctx.log.detail(`backup ${ctx.env.ageKey.backupFile}: created (encrypted to your personal key)`)
}
