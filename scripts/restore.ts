import { BootstrapError } from '../lib/core/errors.ts'
import { loadSnapshot, restoreRunning } from '../lib/openbao/backup.ts'
import { openbaoSetup } from '../lib/openbao/setup/index.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * `just restore <env> [--from FILE] [--force]`: a snapshot (openbao.snapshotFile, or FILE) back into
 * the running OpenBao. A file no key here decrypts is refused, naming its recipients; a value
 * written after the snapshot was taken stops it unless --force. Then setup runs, to make what
 * belongs to this cluster right again and to put the snapshot's admin token in the init file.
 */
const from = (() => {
  const at = process.argv.indexOf('--from')
  if (at < 0) return undefined
  const file = process.argv[at + 1]
  process.argv.splice(at, 2) // not the step selection `--from NN` of the other commands
  return file
})()

export const step = defineStep({
  id: 'restore',
  name: 'openbao-restore',
  summary: "OpenBao holds the snapshot's data; what belongs to this cluster is set again",
  async run(ctx) {
    const file = from ?? ctx.env.openbao.snapshotFile
    const snapshot = await loadSnapshot(ctx, file)
    if (!snapshot)
      throw new BootstrapError(`no snapshot at ${file}`, {
        hint: `\`just backup ${ctx.env.name}\` takes one`,
        exitCode: 2,
      })
    if (ctx.flags.dryRun)
      return ctx.log.detail(`OpenBao: would be restored from ${file} (taken ${snapshot.takenAt})`)
    const endpoint = await ctx.provider.openbao(ctx)
    try {
      await restoreRunning(ctx, endpoint.address, snapshot, file)
    } finally {
      await endpoint.close()
    }
    ctx.log.detail(`OpenBao: restored from ${file} (taken ${snapshot.takenAt})`)
    await openbaoSetup(ctx)
  },
})

if (import.meta.main) await main([step])
