import { createHash } from 'node:crypto'
import { BootstrapError } from '../errors.ts'
import { redactor } from '../redact.ts'
import { ensurePolicy } from './access.ts'
import { dataOf, networkDetail } from './client.ts'
import { GENERATED_PREFIX, INIT_KEYS, recoveryHint } from './init-store.ts'
import { ADMIN_POLICY, adminPolicy } from './policy.ts'
import type { Run } from './run.ts'
import { type Snapshot, uploadSnapshot } from './snapshot.ts'

/**
 * Reaching OpenBao, and a token for it: wait until it answers; the first time, initialise it
 * (its output into the init file), later unseal it if need be and use the stored admin token.
 * The root token only ever makes the admin token, then is revoked.
 */

/** Periodic: renewed by every run in the second half of its period, it never expires while setup runs monthly. */
export const ADMIN_TOKEN_PERIOD = '768h'

export interface SealStatus {
  initialized: boolean
  sealed: boolean
  type?: string
  recovery_seal?: boolean
}

export async function waitForAnswer(run: Run): Promise<SealStatus> {
  const deadline = run.deps.now() + run.waitMs
  let last = 'no answer'
  for (;;) {
    try {
      const response = await run.deps.call({ method: 'GET', path: 'sys/seal-status', token: '' })
      if (response.status === 200 && isSealStatus(response.body)) return response.body
      last = `answered ${response.status} to sys/seal-status`
    } catch (error) {
      last = networkDetail(error)
    }
    if (run.deps.now() >= deadline) {
      throw new BootstrapError(
        `OpenBao at ${run.options.address} did not answer within ${Math.round(run.waitMs / 1000)} s (${last})`,
        {
          hint: 'is OpenBao running and listening there? kind/existing: `kubectl -n openbao get pods` (the openbao Application must be Healthy); local: `just create local` starts it',
        },
      )
    }
    await run.deps.sleep(500)
  }
}

export async function ensureUnsealed(run: Run, status: SealStatus): Promise<void> {
  if (!status.sealed) return
  const keys = Object.keys(run.file)
    .filter((key) => key.startsWith('unseal_key_'))
    .sort()
    .map((key) => run.file[key] as string)
  if (!isAutoUnseal(status) && keys.length > 0) {
    if (run.options.dryRun) {
      throw new BootstrapError(`OpenBao at ${run.options.address} is sealed: a dry run cannot read it`, {
        hint: 'run without --dry-run to unseal it with the unseal keys in the init file',
      })
    }
    for (const key of keys) {
      const response = await run.send('PUT', 'sys/unseal', { key }, '')
      if (response.status !== 200) throw run.failure(response, 'unseal with the keys in the init file')
      if ((response.body as { sealed?: boolean }).sealed === false) break
    }
    run.entry('OpenBao seal', 'updated', `unsealed with the unseal keys in ${run.options.initFile}`)
  }
  await waitUnsealed(run, status)
}

async function waitUnsealed(run: Run, status: SealStatus): Promise<void> {
  const deadline = run.deps.now() + run.waitMs
  for (;;) {
    const response = await run.send('GET', 'sys/seal-status', undefined, '')
    if (isSealStatus(response.body) && !response.body.sealed) return
    if (run.deps.now() >= deadline) {
      throw new BootstrapError(
        `OpenBao at ${run.options.address} is still sealed after ${Math.round(run.waitMs / 1000)} s`,
        {
          hint: isAutoUnseal(status)
            ? `its ${status.type ?? 'auto'} seal did not unseal it: check that its key is mounted (Secret openbao-unseal-key) and the server log`
            : `unseal it with the unseal keys in ${run.options.initFile} (\`bao operator unseal\`)`,
        },
      )
    }
    await run.deps.sleep(500)
  }
}

/** Dry run against an uninitialised OpenBao: what initialisation would do; every read then answers as an empty one would. */
export async function assumeFresh(run: Run, restore?: { snapshot: Snapshot; file: string }): Promise<void> {
  run.fresh = true
  if (restore) {
    run.entry('OpenBao', 'restored', `from ${restore.file}, taken ${restore.snapshot.takenAt}`)
    return
  }
  run.entry(
    'OpenBao',
    'created',
    `initialised; recovery keys and root token stored encrypted in ${run.options.initFile}`,
  )
  await replaceAdminToken(run, '')
}

/**
 * A new OpenBao with a snapshot to come back to: initialised (its root token only lives for the
 * restore), the snapshot restored with it, and from then on the restored data's own tokens and
 * recovery keys, which the snapshot carries: they go into the init file. With the static seal's key
 * (a bootstrap secret) the restored data unseals itself. What belongs to the new cluster — the
 * kubernetes auth method's host and CA — is set afterwards by the rest of setup, which writes only
 * what differs: a restored value is never overwritten.
 */
export async function restoreInto(
  run: Run,
  status: SealStatus,
  snapshot: Snapshot,
  file: string,
): Promise<void> {
  await run.deps.initStore.preflight()
  const init = await initRequest(run, status, 'initialise OpenBao to restore the snapshot into')
  const root = init.root_token ?? ''
  for (const key of init.keys_base64 ?? []) await run.send('PUT', 'sys/unseal', { key }, '')
  // Kept until the restore is done: a run that stops in between resumes it (resumeRestore).
  run.setFile(INIT_KEYS.rootToken, root)
  run.setFile(INIT_KEYS.restoringFrom, restoreMarker(snapshot))
  await run.saveFile()
  await waitUnsealed(run, status)
  await restoreWith(run, root, snapshot, file)
}

/** An OpenBao a stopped run initialised for a restore: the root token of that init is in the init file. */
export function restorePending(run: Run, snapshot: Snapshot | undefined): boolean {
  return (
    !!snapshot &&
    run.file[INIT_KEYS.restoringFrom] === restoreMarker(snapshot) &&
    !!run.file[INIT_KEYS.rootToken]
  )
}

/**
 * Which snapshot a pending restore is of, as a digest: every value of the init file is masked in
 * output as a secret, and the snapshot's time itself must stay readable there.
 */
function restoreMarker(snapshot: Snapshot): string {
  return createHash('sha256').update(`restore ${snapshot.takenAt}`).digest('hex')
}

export async function resumeRestore(run: Run, snapshot: Snapshot, file: string): Promise<void> {
  run.deps.onEntry(`OpenBao: resuming the restore of ${file} a stopped run began`)
  await restoreWith(run, run.file[INIT_KEYS.rootToken] as string, snapshot, file)
}

/**
 * The snapshot up, with the init's root token, once the node is active; then wait until the
 * restored data answers with the snapshot's admin token (OpenBao applies it in the background). A
 * restore that did not take (the root token still works after a while) is sent again.
 */
async function restoreWith(run: Run, root: string, snapshot: Snapshot, file: string): Promise<void> {
  const unsealKeys = Object.entries(snapshot.init)
    .filter(([key]) => key.startsWith('unseal_key_'))
    .map(([, value]) => value)
  const admin = snapshot.init[INIT_KEYS.adminToken] ?? ''
  const deadline = run.deps.now() + run.waitMs * 2
  const works = async (token: string) =>
    (await run.send('GET', 'auth/token/lookup-self', undefined, token)).status === 200
  let sentAt: number | undefined
  for (;;) {
    const health = await run.send(
      'GET',
      'sys/health?standbyok=false&sealedcode=299&uninitcode=299',
      undefined,
      '',
    )
    const sealed = (health.body as { sealed?: boolean } | undefined)?.sealed
    if (sealed && unsealKeys.length)
      for (const key of unsealKeys) await run.send('PUT', 'sys/unseal', { key }, '')
    if (health.status === 200) {
      if (await works(admin)) break
      // Not sent yet, or sent and still not applied while the init's own data still answers: (again).
      if ((sentAt === undefined || run.deps.now() - sentAt > 15_000) && (await works(root))) {
        run.report.writes++
        await uploadSnapshot(run.options.address, root, snapshot.bytes)
        sentAt = run.deps.now()
      }
    }
    if (run.deps.now() >= deadline)
      throw new BootstrapError(
        `OpenBao at ${run.options.address} did not come back with the snapshot's data within ${Math.round((run.waitMs * 2) / 1000)} s`,
        {
          hint: `its log says why (local: the openbao log in the state folder's logs/); ${file} is untouched, and running setup again resumes the restore`,
        },
      )
    await run.deps.sleep(500)
  }
  for (const key of Object.keys(run.file))
    if (!key.startsWith(GENERATED_PREFIX) && !(key in snapshot.init)) run.setFile(key, undefined)
  for (const [key, value] of Object.entries(snapshot.init)) run.setFile(key, value)
  await run.saveFile()
  run.entry(
    'OpenBao',
    'restored',
    `from ${file}, taken ${snapshot.takenAt}: every value, policy, role and token as they were then; the init file holds its admin token and recovery keys again`,
  )
}

const INIT_TIMEOUT_MS = 60_000
/** One share: the init file is the one place the keys are kept, so more shares would not be split among people. */
const INIT_SHARES = 1

interface InitAnswer {
  root_token?: string
  keys?: string[]
  keys_base64?: string[]
  recovery_keys?: string[]
  recovery_keys_base64?: string[]
}

/** PUT sys/init: recovery keys for a seal that unseals itself, unseal keys otherwise; every secret it answers registered. */
async function initRequest(run: Run, status: SealStatus, what: string): Promise<InitAnswer> {
  const body = isAutoUnseal(status)
    ? { recovery_shares: INIT_SHARES, recovery_threshold: INIT_SHARES }
    : { secret_shares: INIT_SHARES, secret_threshold: INIT_SHARES }
  // Init on raft storage waits for the single node's leader election (5-10 s measured locally).
  const response = await run.send('PUT', 'sys/init', body, '', INIT_TIMEOUT_MS)
  if (response.status !== 200) throw run.failure(response, what)
  const init = response.body as InitAnswer
  redactor.addAll([
    init.root_token,
    ...(init.keys ?? []),
    ...(init.keys_base64 ?? []),
    ...(init.recovery_keys ?? []),
    ...(init.recovery_keys_base64 ?? []),
  ])
  if (!init.root_token)
    throw new BootstrapError(`OpenBao at ${run.options.address} was initialised but returned no root token`)
  return init
}

export async function initialise(run: Run, status: SealStatus): Promise<void> {
  // Initialisation's output exists once: make sure it can be stored before asking for it.
  await run.deps.initStore.preflight()
  const shares = INIT_SHARES
  const init = await initRequest(run, status, 'initialise OpenBao')
  const rootToken = init.root_token ?? ''

  const earlier = Object.keys(run.file).filter((key) => !key.startsWith(GENERATED_PREFIX))
  if (earlier.length > 0) {
    run.deps.onEntry(
      `init file ${run.options.initFile}: replacing the keys and token of an earlier OpenBao (the old ones are in git history); generated values are kept`,
    )
  }
  for (const key of earlier) run.setFile(key, undefined)
  run.setFile(INIT_KEYS.initializedAt, new Date(run.deps.now()).toISOString())
  run.setFile(INIT_KEYS.rootToken, rootToken)
  // Base64, the form `bao operator init` prints and `bao operator generate-root` / `unseal` take.
  const recoveryKeys = init.recovery_keys_base64 ?? init.recovery_keys ?? []
  const unsealKeys = init.keys_base64 ?? init.keys ?? []
  for (const [i, key] of recoveryKeys.entries()) run.setFile(INIT_KEYS.recoveryKey(i + 1), key)
  for (const [i, key] of unsealKeys.entries()) run.setFile(INIT_KEYS.unsealKey(i + 1), key)
  if (recoveryKeys.length) run.setFile(INIT_KEYS.recoveryThreshold, String(shares))
  if (unsealKeys.length) run.setFile(INIT_KEYS.unsealThreshold, String(shares))
  await run.saveFile()
  run.entry(
    'OpenBao',
    'created',
    `initialised; ${recoveryKeys.length ? `${recoveryKeys.length} recovery key` : `${unsealKeys.length} unseal key`} and the root token stored encrypted in ${run.options.initFile}`,
  )
  if (unsealKeys.length) await ensureUnsealed(run, { ...status, initialized: true, sealed: true })
  else await waitUnsealed(run, status)
  run.useToken(rootToken, 'the root token from initialisation')
  await replaceAdminToken(run, rootToken)
}

/** Uses the stored admin token; falls back to a stored root token (an interrupted first run, or a recovery). */
export async function authenticate(run: Run): Promise<void> {
  const initFile = run.options.initFile
  if (!run.fileExists) {
    throw new BootstrapError(
      `OpenBao at ${run.options.address} is initialised, but the init file ${initFile} does not exist: setup has no token for it`,
      {
        hint: recoveryHint(initFile, 'restore the file from git if it was committed; otherwise'),
      },
    )
  }
  const admin = run.file[INIT_KEYS.adminToken]
  const root = run.file[INIT_KEYS.rootToken]
  const adminLookup = admin ? await lookup(run, admin) : undefined
  if (admin && adminLookup) {
    run.useToken(admin, `the admin token in ${initFile}`)
    await ensurePolicy(run, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
    await renewIfDue(run, adminLookup)
    if (root) await revokeRoot(run, root)
    return
  }
  if (root && (await lookup(run, root))) {
    run.useToken(root, `the root token in ${initFile}`)
    if (admin)
      run.deps.onEntry(
        `the admin token in ${initFile} was rejected: making a new one with the root token stored there`,
      )
    await replaceAdminToken(run, root)
    return
  }
  const at = `OpenBao at ${run.options.address}`
  const why = admin
    ? `${at} rejected the admin token in ${initFile} (403: expired, revoked, or from another OpenBao)`
    : root
      ? `${at} rejected the root token in ${initFile}, which holds no admin token`
      : `${initFile} holds no token for ${at}`
  throw new BootstrapError(why, { hint: recoveryHint(initFile) })
}

/** The token's lookup data when OpenBao accepts it; undefined when it answers 403. */
async function lookup(run: Run, token: string): Promise<{ ttl?: number; period?: number } | undefined> {
  const response = await run.send('GET', 'auth/token/lookup-self', undefined, token)
  if (response.status === 403) return undefined
  if (response.status !== 200) throw run.failure(response, 'look up its token')
  return dataOf(response.body) ?? {}
}

async function renewIfDue(run: Run, lookup: { ttl?: number; period?: number }): Promise<void> {
  const { ttl = 0, period = 0 } = lookup
  if (period <= 0 || ttl >= period / 2) {
    run.entry(
      'admin token',
      'unchanged',
      `valid for ${Math.round(ttl / 86400)} more days; renewed by a run after half its period`,
    )
    return
  }
  await run.change('admin token', 'updated', `renewed for ${Math.round(period / 86400)} days`, () =>
    run.must('POST', 'auth/token/renew-self', {}, 'renew its token'),
  )
}

/** With the root token in use: the admin policy, a new orphan admin token stored in the init file, then the root token revoked. */
async function replaceAdminToken(run: Run, root: string): Promise<void> {
  await ensurePolicy(run, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
  if (run.options.dryRun) {
    run.entry('admin token', 'created', `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}`)
    await revokeRoot(run, root)
    return
  }
  // An orphan: revoking the root token revokes its children, and this one must outlive it.
  const body = await run.must(
    'POST',
    'auth/token/create',
    {
      policies: [ADMIN_POLICY],
      no_default_policy: true,
      no_parent: true,
      period: ADMIN_TOKEN_PERIOD,
      renewable: true,
      display_name: 'platform-bootstrap',
    },
    'create the admin token',
  )
  const auth = (body as { auth?: { client_token?: string; accessor?: string } }).auth
  const token = auth?.client_token ?? ''
  if (!token) throw new BootstrapError(`OpenBao at ${run.options.address} created no admin token`)
  redactor.add(token)
  run.setFile(INIT_KEYS.adminToken, token)
  run.setFile(INIT_KEYS.adminAccessor, auth?.accessor ?? '')
  // Stored before the root token goes: a stop in between leaves a file with both, never with neither.
  await run.saveFile()
  run.entry(
    'admin token',
    'created',
    `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}, stored encrypted in ${run.options.initFile}`,
  )
  run.useToken(token, `the admin token in ${run.options.initFile}`)
  await revokeRoot(run, root)
}

async function revokeRoot(run: Run, root: string): Promise<void> {
  if (run.options.dryRun) {
    run.entry('root token', 'updated', `revoked and removed from ${run.options.initFile}`)
    return
  }
  const response = await run.send('POST', 'auth/token/revoke-self', {}, root)
  // 403: it no longer works (revoked or expired): the same end.
  if (response.status !== 204 && response.status !== 200 && response.status !== 403)
    throw run.failure(response, 'revoke the root token')
  run.setFile(INIT_KEYS.rootToken, undefined)
  run.setFile(INIT_KEYS.rootRevokedAt, new Date(run.deps.now()).toISOString())
  await run.saveFile()
  run.entry(
    'root token',
    'updated',
    `revoked and removed from ${run.options.initFile}; \`bao operator generate-root\` with the recovery keys makes a new one`,
  )
}

function isSealStatus(body: unknown): body is SealStatus {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as SealStatus).initialized === 'boolean' &&
    typeof (body as SealStatus).sealed === 'boolean'
  )
}

/** A seal that unseals by itself (static, cloud KMS, transit): initialised with recovery keys. */
function isAutoUnseal(status: SealStatus): boolean {
  return status.recovery_seal === true || (status.type !== undefined && status.type !== 'shamir')
}
