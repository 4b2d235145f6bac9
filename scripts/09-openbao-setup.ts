import { waitForConvergence } from '../lib/argocd/converge.ts'
import { noOpenBaoLine, openbaoDeployed } from '../lib/openbao/endpoint.ts'
import { openbaoSetup } from '../lib/openbao/setup/index.ts'
import { main } from '../lib/runner/cli.ts'
import { envPath } from '../lib/runner/config.ts'
import { defineStep } from '../lib/runner/step.ts'
import { decryptAhead } from '../lib/sops/index.ts'

/**
 * OpenBao setup (runtime secrets), once OpenBao runs — `just openbao-setup <env>`:
 *
 *  1. Reach OpenBao (a port-forward on kind/existing, the process itself on local) and wait
 *     until it answers.
 *  2. The first time, initialise it. The recovery keys and root token go SOPS-encrypted into
 *     openbao.initFile (your key and the cluster key); an admin token with policy
 *     platform-bootstrap is made and kept there, and the root token is revoked. Later runs use
 *     the admin token. When openbao.snapshotFile holds a snapshot (destroy takes one), a new
 *     OpenBao gets it back instead: every value as it was, its admin token and recovery keys in
 *     the init file again; only what belongs to the new cluster (step 3) is set anew.
 *  3. KV v2 at secret/, and the kubernetes auth method pointed at the cluster.
 *  4. For each app in openbao.apps: a policy that reads secret/data/<app> and nothing else, and
 *     a role <app> bound to the app's ServiceAccount.
 *  5. Each app's initial secrets, only where missing: never overwritten (some keys can never
 *     change). `--rotate <app>/<field>` replaces one. Generated values are kept in the init
 *     file too, so a recreated cluster gets the same ones back.
 *  6. OpenBao outside the cluster (local) has no token of its own to review logins with: each
 *     app's ServiceAccount is bound to system:auth-delegator to have its own token reviewed.
 *  7. The Applications step 08 left for this step (labelled healthy-after: openbao-setup, and the
 *     App of Apps waiting on them) can mount their secrets now: wait until every Application is
 *     Synced and Healthy, with the same progress and diagnostics as 08.
 *
 * Every part reads first and writes only what is missing or different: a second run writes
 * nothing. `--dry-run` reads and says what it would do. Values are never printed.
 */
export const step = defineStep({
  id: '09',
  name: 'openbao-setup',
  summary:
    'OpenBao initialised; KV v2, kubernetes auth, a read-only policy and role per app; initial secrets written once; every Application Synced and Healthy',
  // sops decrypts the init file while the steps before run.
  prefetch(ctx) {
    if (openbaoDeployed(ctx)) decryptAhead(envPath(ctx.env, ctx.env.openbao.initFile))
  },
  async run(ctx) {
    // Changes made before this step ask every Application to refresh; this step's own do not (converge.ts refreshFor).
    const refreshFor = ctx.changed?.size ?? 0
    if (!openbaoDeployed(ctx)) ctx.log.detail(noOpenBaoLine(ctx))
    else await openbaoSetup(ctx)
    if (!ctx.flags.dryRun) await waitForConvergence(ctx, { refreshFor })
  },
})

if (import.meta.main) await main([step])
