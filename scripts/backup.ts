import { describeTaken, takeSnapshot } from '../lib/openbao/backup.ts'
import { main } from '../lib/runner/cli.ts'
import { sayWhetherToCommit } from '../lib/runner/commit-note.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * `just backup <env>`: OpenBao's raft snapshot of the running platform into openbao.snapshotFile,
 * age-encrypted to the recipients of the environment's bootstrap file (the personal key and the
 * cluster key), replacing the previous one; what destroy does first.
 */
export const step = defineStep({
  id: 'backup',
  name: 'openbao-snapshot',
  summary: "OpenBao's data is kept, encrypted, in openbao.snapshotFile",
  async run(ctx) {
    if (ctx.flags.dryRun)
      return ctx.log.detail(`OpenBao snapshot: would be taken into ${ctx.env.openbao.snapshotFile}`)
    const taken = await takeSnapshot(ctx)
    if (!taken) return ctx.log.detail('OpenBao is not initialised yet: nothing to back up')
    ctx.log.detail(describeTaken(taken))
    await sayWhetherToCommit(ctx, ctx.env.openbao.snapshotFile)
  },
})

if (import.meta.main) await main([step])
