import { main } from '../lib/runner/cli.ts'
import { steps } from './steps.ts'

// `just create [env] [--from NN] [--step NN] [--dry-run]`
await main(steps, {
  // A fresh machine's first create builds what it lacks, as `just tools` would.
  installTools: true,
  afterSuccess(ctx) {
    ctx.log.info(`\n${ctx.env.name} is up. To look at it:`)
    for (const line of ctx.provider.accessHints(ctx)) ctx.log.info(`  ${line}`)
  },
})
