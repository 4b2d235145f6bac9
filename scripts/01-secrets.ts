import { main } from '../lib/runner/cli.ts'
import { envPath } from '../lib/runner/config.ts'
import { defineStep } from '../lib/runner/step.ts'
import { decryptAhead } from '../lib/sops/index.ts'

/**
 * The bootstrap secrets: one read from Vault/OpenBao, the SOPS file filling what Vault lacks.
 * Printed: where each field came from. Never printed: a value.
 */
export const step = defineStep({
  id: '01',
  name: 'secrets',
  summary: 'every bootstrap field resolved, with its source',
  // sops decrypts the SOPS file while 00 checks the cluster. It is read unless Vault alone may
  // give every field; an environment that makes its missing secrets reads it first anyway.
  prefetch(ctx) {
    const { env } = ctx
    if (env.generateMissingSecrets || !env.secrets.vault) decryptAhead(envPath(env, env.secrets.sopsFile))
  },
  async run(ctx) {
    const { sources } = await ctx.secrets()
    for (const [field, source] of Object.entries(sources)) ctx.log.detail(`${field}: from ${source}`)
  },
})

if (import.meta.main) await main([step])
