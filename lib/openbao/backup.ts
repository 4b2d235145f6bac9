import { existsSync } from 'node:fs'
import { readKeyFile } from '../bootstrap-secrets/age.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { personalAgeKeyFile } from '../core/paths.ts'
import { waitFor } from '../core/wait.ts'
import { sayWhetherToCommit } from '../runner/commit-note.ts'
import { envPath } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { decrypt, recipientsOf, writeEncrypted } from '../sops/index.ts'
import { nodeVaultCall } from './client.ts'
import { noOpenBaoLine, openbaoDeployed } from './endpoint.ts'
import { GENERATED_PREFIX, INIT_KEYS } from './init-store.ts'
import {
  downloadSnapshot,
  initValuesOf,
  readSnapshot,
  type Snapshot,
  uploadSnapshot,
  writeSnapshot,
} from './snapshot.ts'

/**
 * What `destroy`, `backup` and `restore` do with OpenBao's data: a raft snapshot taken with the
 * admin token and kept, age-encrypted to the environment's keys (the recipients of its bootstrap
 * file: the personal key and the cluster key), at openbao.snapshotFile; and put back.
 */

export interface TakenSnapshot {
  file: string
  takenAt: string
  bytes: number
  recipients: string[]
}

/** A snapshot of the running OpenBao into openbao.snapshotFile; undefined when it was never initialised (nothing to keep). */
export async function takeSnapshot(ctx: Context): Promise<TakenSnapshot | undefined> {
  const { openbao, secrets } = ctx.env
  const endpoint = await ctx.provider.openbao(ctx)
  try {
    const status = await nodeVaultCall(endpoint.address)({
      method: 'GET',
      path: 'sys/seal-status',
      token: '',
    })
    const seal = status.body as { initialized?: boolean; sealed?: boolean } | undefined
    if (status.status !== 200)
      throw new BootstrapError(`OpenBao at ${endpoint.address} answered ${status.status} to its seal status`)
    if (!seal?.initialized) return undefined
    if (seal.sealed)
      throw new BootstrapError(`OpenBao at ${endpoint.address} is sealed: its data cannot be read`)
    const initFile = envPath(ctx.env, openbao.initFile)
    if (!existsSync(initFile))
      throw new BootstrapError(
        `OpenBao is initialised, but ${openbao.initFile} does not exist: no token to take a snapshot with`,
      )
    const init = await decrypt(initFile)
    const token = init[INIT_KEYS.adminToken]
    if (!token) throw new BootstrapError(`${openbao.initFile} holds no admin token to take a snapshot with`)
    const bytes = await downloadSnapshot(endpoint.address, token)
    const recipients = await recipientsOf(envPath(ctx.env, secrets.sopsFile))
    const takenAt = new Date().toISOString()
    await writeSnapshot(
      envPath(ctx.env, openbao.snapshotFile),
      { takenAt, bytes, init: initValuesOf(init) },
      recipients,
    )
    return { file: openbao.snapshotFile, takenAt, bytes: bytes.length, recipients }
  } finally {
    await endpoint.close()
  }
}

/**
 * destroy's first step: nothing a person wrote into OpenBao may go with the cluster. A snapshot
 * that cannot be taken (OpenBao down, sealed, no token) stops the destroy, unless --force.
 */
export async function snapshotBeforeDestroy(ctx: Context): Promise<void> {
  const file = ctx.env.openbao.snapshotFile
  if (!(await ctx.provider.hasCluster(ctx))) return ctx.log.detail('no cluster: no OpenBao to keep')
  if (!openbaoDeployed(ctx)) return ctx.log.detail(noOpenBaoLine(ctx))
  await ctx.provider.refuseDestroy?.(ctx)
  if (ctx.flags.dryRun) return ctx.log.detail(`OpenBao snapshot: would be taken into ${file}`)
  let taken: TakenSnapshot | undefined
  try {
    taken = await takeSnapshot(ctx)
  } catch (error) {
    const lost = `what was written to OpenBao since ${existsSync(envPath(ctx.env, file)) ? `the snapshot in ${file}` : 'its setup'} is lost`
    if (!ctx.flags.noSnapshot)
      throw new BootstrapError(
        `no OpenBao snapshot could be taken before destroying: ${errorMessage(error)}`,
        {
          hint: `make OpenBao answer and run destroy again (\`just backup ${ctx.env.name}\` tries the snapshot alone); \`just destroy ${ctx.env.name} --no-snapshot\` destroys without one, and ${lost}`,
        },
      )
    ctx.log.warn(`no OpenBao snapshot (${errorMessage(error)}): destroying anyway (--no-snapshot); ${lost}`)
    return
  }
  if (!taken) return ctx.log.detail('OpenBao was never initialised: nothing to keep')
  ctx.log.detail(describeTaken(taken))
  await sayWhetherToCommit(ctx, file)
}

export function describeTaken(taken: TakenSnapshot): string {
  return `OpenBao snapshot: ${taken.file} (${Math.ceil(taken.bytes / 1024)} KiB, taken ${taken.takenAt}, encrypted to ${taken.recipients.length} age keys)`
}

/** The snapshot file, decrypted with the personal key; undefined when there is none. */
export async function loadSnapshot(
  ctx: Context,
  file = ctx.env.openbao.snapshotFile,
): Promise<Snapshot | undefined> {
  const path = envPath(ctx.env, file)
  if (!existsSync(path)) return undefined
  const keyFile = personalAgeKeyFile()
  const identities = existsSync(keyFile) ? (await readKeyFile(keyFile)).keys.map((key) => key.identity) : []
  if (identities.length === 0)
    throw new BootstrapError(`no personal age key at ${keyFile} to decrypt ${file}`)
  return readSnapshot(path, identities, keyFile)
}

/**
 * `just restore` on a running OpenBao: refuses, unless --force, when a value was written after the
 * snapshot (it would be lost); then restores it with the admin token of the current data, waits
 * for the restored data to answer, and puts the snapshot's init values (its admin token, recovery
 * keys) into the init file: those work against the restored data from now on.
 */
export async function restoreRunning(
  ctx: Context,
  address: string,
  snapshot: Snapshot,
  file: string,
): Promise<void> {
  const initFile = envPath(ctx.env, ctx.env.openbao.initFile)
  const token = (await decrypt(initFile))[INIT_KEYS.adminToken] ?? ''
  const newer = await writtenAfter(address, token, snapshot.takenAt)
  if (newer.length && !ctx.flags.force)
    throw new BootstrapError(
      `OpenBao holds values written after the snapshot in ${file} (taken ${snapshot.takenAt}): ${newer.slice(0, 5).join(', ')}${newer.length > 5 ? ` and ${newer.length - 5} more` : ''}`,
      {
        hint: 'restoring would lose them: take a backup first (`just backup`), or run restore again with --force',
        exitCode: 2,
      },
    )
  await uploadSnapshot(address, token, snapshot.bytes)
  // Applied in the background: the snapshot's admin token answers once its data is in place.
  const admin = snapshot.init[INIT_KEYS.adminToken] ?? ''
  const call = nodeVaultCall(address)
  await waitFor(
    `OpenBao at ${address} to answer with the admin token of ${file}`,
    async () => (await call({ method: 'GET', path: 'auth/token/lookup-self', token: admin })).status === 200,
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      notYet: () => true,
      timeoutMessage: (seconds) =>
        `OpenBao at ${address} did not come back with the data of ${file} within ${seconds} s`,
      hint: `its log says why (kind/existing: \`kubectl -n ${ctx.env.openbao.namespace} logs -l app.kubernetes.io/name=openbao\`; local: the openbao log in the state folder's logs/); run restore again once it answers`,
    },
  )
  // From now on the snapshot's tokens and recovery keys are the ones that work: into the init file.
  const current = await decrypt(initFile)
  const kept = Object.fromEntries(Object.entries(current).filter(([key]) => key.startsWith(GENERATED_PREFIX)))
  await writeEncrypted(
    initFile,
    { ...kept, ...snapshot.init },
    await recipientsOf(envPath(ctx.env, ctx.env.secrets.sopsFile)),
  )
}

/** KV v2 paths under secret/ whose latest version is newer than `since`. */
async function writtenAfter(address: string, token: string, since: string): Promise<string[]> {
  const call = nodeVaultCall(address)
  const found: string[] = []
  const walk = async (prefix: string): Promise<void> => {
    const listed = await call({ method: 'GET', path: `secret/metadata/${prefix}?list=true`, token })
    const keys = (listed.body as { data?: { keys?: string[] } } | undefined)?.data?.keys ?? []
    for (const key of keys) {
      if (key.endsWith('/')) {
        await walk(`${prefix}${key}`)
        continue
      }
      const meta = await call({ method: 'GET', path: `secret/metadata/${prefix}${key}`, token })
      const updated = (meta.body as { data?: { updated_time?: string } } | undefined)?.data?.updated_time
      if (updated && Date.parse(updated) > Date.parse(since))
        found.push(`secret/${prefix}${key} (${updated})`)
    }
  }
  await walk('')
  return found
}
