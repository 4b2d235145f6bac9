import { main } from '../lib/cli.ts'
import { defineStep } from '../lib/step.ts'

/** `just destroy [env] [--force]`: the cluster goes; keys, secrets files and backups stay. */
const destroy = defineStep({
  id: 'destroy',
  name: 'cluster',
  summary: 'the cluster this tool made is gone; keys and secrets files are kept',
  run: (ctx) => ctx.provider.destroy(ctx),
})

await main([destroy])
