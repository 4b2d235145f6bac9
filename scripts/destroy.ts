import { snapshotBeforeDestroy } from '../lib/openbao/backup.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * `just destroy [env] [--force]`: OpenBao's data first, as a snapshot encrypted to the environment's
 * keys (a snapshot that cannot be taken stops the destroy, unless --force); then the cluster goes.
 * Keys, secrets files, backups and the snapshot stay: the next create gets every value back.
 */
const snapshot = defineStep({
  id: 'snapshot',
  name: 'openbao-snapshot',
  summary: "OpenBao's data is kept, encrypted, in openbao.snapshotFile",
  run: (ctx) => snapshotBeforeDestroy(ctx),
})

const destroy = defineStep({
  id: 'destroy',
  name: 'cluster',
  summary: 'the cluster this tool made is gone; keys, secrets files and the snapshot are kept',
  run: (ctx) => ctx.provider.destroy(ctx),
})

await main([snapshot, destroy])
