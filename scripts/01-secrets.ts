import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * The bootstrap secrets: one read from Vault/OpenBao, the SOPS file filling what Vault lacks.
 * Printed: where each field came from. Never printed: a value.
 */
export const step = defineStep({
  id: '01',
  name: 'secrets',
  summary: 'every bootstrap field resolved, with its source',
  async run(ctx) {
    const { sources } = await ctx.secrets()
    for (const [field, source] of Object.entries(sources)) ctx.log.detail(`${field}: from ${source}`)
  },
})

if (import.meta.main) await main([step])
