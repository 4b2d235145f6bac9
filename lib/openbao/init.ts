import { createHash } from 'node:crypto'
import { BootstrapError } from '../errors.ts'
import { redactor } from '../redact.ts'
import { waitFor } from '../wait.ts'
import { ensurePolicy } from './access.ts'
import { dataOf, networkDetail } from './client.ts'
import { GENERATED_PREFIX, INIT_KEYS, recoveryHint } from './init-store.ts'
import { ADMIN_POLICY, adminPolicy } from './policy.ts'
import type { OpenBaoSession } from './session.ts'
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

/** How often setup asks OpenBao again while it waits for it. */
const POLL_MS = 500

export async function waitForAnswer(session: OpenBaoSession): Promise<SealStatus> {
  let last = 'no answer'
  return waitFor(
    `OpenBao at ${session.options.address} to answer`,
    async () => {
      try {
        const response = await session.deps.call({ method: 'GET', path: 'sys/seal-status', token: '' })
        if (response.status === 200 && isSealStatus(response.body)) return response.body
        last = `answered ${response.status} to sys/seal-status`
      } catch (error) {
        last = networkDetail(error)
      }
      return undefined
    },
    {
      timeoutMs: session.waitMs,
      intervalMs: POLL_MS,
      clock: session.deps,
      timeoutMessage: (seconds) =>
        `OpenBao at ${session.options.address} did not answer within ${seconds} s (${last})`,
      hint: 'is OpenBao running and listening there? kind/existing: `kubectl -n openbao get pods` (the openbao Application must be Healthy); local: `just create local` starts it',
    },
  )
}

export async function ensureUnsealed(session: OpenBaoSession, status: SealStatus): Promise<void> {
  if (!status.sealed) return
  const keys = Object.keys(session.file)
    .filter((key) => key.startsWith('unseal_key_'))
    .sort()
    .map((key) => session.file[key] as string)
  if (!isAutoUnseal(status) && keys.length > 0) {
    if (session.options.dryRun) {
      throw new BootstrapError(`OpenBao at ${session.options.address} is sealed: a dry run cannot read it`, {
        hint: 'run without --dry-run to unseal it with the unseal keys in the init file',
      })
    }
    for (const key of keys) {
      const response = await session.send('PUT', 'sys/unseal', { key }, '')
      if (response.status !== 200) throw session.failure(response, 'unseal with the keys in the init file')
      if ((response.body as { sealed?: boolean }).sealed === false) break
    }
    session.entry('OpenBao seal', 'updated', `unsealed with the unseal keys in ${session.options.initFile}`)
  }
  await waitUnsealed(session, status)
}

async function waitUnsealed(session: OpenBaoSession, status: SealStatus): Promise<void> {
  await waitFor(
    `OpenBao at ${session.options.address} to be unsealed`,
    async () => {
      const response = await session.send('GET', 'sys/seal-status', undefined, '')
      return isSealStatus(response.body) && !response.body.sealed
    },
    {
      timeoutMs: session.waitMs,
      intervalMs: POLL_MS,
      clock: session.deps,
      timeoutMessage: (seconds) => `OpenBao at ${session.options.address} is still sealed after ${seconds} s`,
      hint: isAutoUnseal(status)
        ? `its ${status.type ?? 'auto'} seal did not unseal it: check that its key is mounted (Secret openbao-unseal-key) and the server log`
        : `unseal it with the unseal keys in ${session.options.initFile} (\`bao operator unseal\`)`,
    },
  )
}

/** Dry run against an uninitialised OpenBao: what initialisation would do; every read then answers as an empty one would. */
export async function assumeFresh(
  session: OpenBaoSession,
  restore?: { snapshot: Snapshot; file: string },
): Promise<void> {
  session.fresh = true
  if (restore) {
    session.entry('OpenBao', 'restored', `from ${restore.file}, taken ${restore.snapshot.takenAt}`)
    return
  }
  session.entry(
    'OpenBao',
    'created',
    `initialised; recovery keys and root token stored encrypted in ${session.options.initFile}`,
  )
  await replaceAdminToken(session, '')
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
  session: OpenBaoSession,
  status: SealStatus,
  snapshot: Snapshot,
  file: string,
): Promise<void> {
  await session.deps.initStore.preflight()
  const init = await initRequest(session, status, 'initialise OpenBao to restore the snapshot into')
  const root = init.root_token ?? ''
  for (const key of init.keys_base64 ?? []) await session.send('PUT', 'sys/unseal', { key }, '')
  // Kept until the restore is done: a run that stops in between resumes it (resumeRestore).
  session.setFile(INIT_KEYS.rootToken, root)
  session.setFile(INIT_KEYS.restoringFrom, restoreMarker(snapshot))
  await session.saveFile()
  await waitUnsealed(session, status)
  await restoreWith(session, root, snapshot, file)
}

/** An OpenBao a stopped run initialised for a restore: the root token of that init is in the init file. */
export function restorePending(session: OpenBaoSession, snapshot: Snapshot | undefined): boolean {
  return (
    !!snapshot &&
    session.file[INIT_KEYS.restoringFrom] === restoreMarker(snapshot) &&
    !!session.file[INIT_KEYS.rootToken]
  )
}

/**
 * Which snapshot a pending restore is of, as a digest: every value of the init file is masked in
 * output as a secret, and the snapshot's time itself must stay readable there.
 */
function restoreMarker(snapshot: Snapshot): string {
  return createHash('sha256').update(`restore ${snapshot.takenAt}`).digest('hex')
}

export async function resumeRestore(
  session: OpenBaoSession,
  snapshot: Snapshot,
  file: string,
): Promise<void> {
  session.deps.onEntry(`OpenBao: resuming the restore of ${file} a stopped run began`)
  await restoreWith(session, session.file[INIT_KEYS.rootToken] as string, snapshot, file)
}

/**
 * The snapshot up, with the init's root token, once the node is active; then wait until the
 * restored data answers with the snapshot's admin token (OpenBao applies it in the background). A
 * restore that did not take (the root token still works after a while) is sent again.
 */
async function restoreWith(
  session: OpenBaoSession,
  root: string,
  snapshot: Snapshot,
  file: string,
): Promise<void> {
  const unsealKeys = Object.entries(snapshot.init)
    .filter(([key]) => key.startsWith('unseal_key_'))
    .map(([, value]) => value)
  const admin = snapshot.init[INIT_KEYS.adminToken] ?? ''
  const works = async (token: string) =>
    (await session.send('GET', 'auth/token/lookup-self', undefined, token)).status === 200
  let sentAt: number | undefined
  await waitFor(
    `OpenBao at ${session.options.address} to answer with the snapshot's data`,
    async () => {
      const health = await session.send(
        'GET',
        'sys/health?standbyok=false&sealedcode=299&uninitcode=299',
        undefined,
        '',
      )
      const sealed = (health.body as { sealed?: boolean } | undefined)?.sealed
      if (sealed && unsealKeys.length)
        for (const key of unsealKeys) await session.send('PUT', 'sys/unseal', { key }, '')
      if (health.status !== 200) return false
      if (await works(admin)) return true
      // Not sent yet, or sent and still not applied while the init's own data still answers: (again).
      if ((sentAt === undefined || session.deps.now() - sentAt > 15_000) && (await works(root))) {
        session.report.writes++
        await uploadSnapshot(session.options.address, root, snapshot.bytes)
        sentAt = session.deps.now()
      }
      return false
    },
    {
      timeoutMs: session.waitMs * 2,
      intervalMs: POLL_MS,
      clock: session.deps,
      timeoutMessage: (seconds) =>
        `OpenBao at ${session.options.address} did not come back with the snapshot's data within ${seconds} s`,
      hint: `its log says why (local: the openbao log in the state folder's logs/); ${file} is untouched, and running setup again resumes the restore`,
    },
  )
  for (const key of Object.keys(session.file))
    if (!key.startsWith(GENERATED_PREFIX) && !(key in snapshot.init)) session.setFile(key, undefined)
  for (const [key, value] of Object.entries(snapshot.init)) session.setFile(key, value)
  await session.saveFile()
  session.entry(
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
async function initRequest(session: OpenBaoSession, status: SealStatus, what: string): Promise<InitAnswer> {
  const body = isAutoUnseal(status)
    ? { recovery_shares: INIT_SHARES, recovery_threshold: INIT_SHARES }
    : { secret_shares: INIT_SHARES, secret_threshold: INIT_SHARES }
  // Init on raft storage waits for the single node's leader election (5-10 s measured locally).
  const response = await session.send('PUT', 'sys/init', body, '', INIT_TIMEOUT_MS)
  if (response.status !== 200) throw session.failure(response, what)
  const init = response.body as InitAnswer
  redactor.addAll([
    init.root_token,
    ...(init.keys ?? []),
    ...(init.keys_base64 ?? []),
    ...(init.recovery_keys ?? []),
    ...(init.recovery_keys_base64 ?? []),
  ])
  if (!init.root_token)
    throw new BootstrapError(
      `OpenBao at ${session.options.address} was initialised but returned no root token`,
    )
  return init
}

export async function initialise(session: OpenBaoSession, status: SealStatus): Promise<void> {
  // Initialisation's output exists once: make sure it can be stored before asking for it.
  await session.deps.initStore.preflight()
  const shares = INIT_SHARES
  const init = await initRequest(session, status, 'initialise OpenBao')
  const rootToken = init.root_token ?? ''

  const earlier = Object.keys(session.file).filter((key) => !key.startsWith(GENERATED_PREFIX))
  if (earlier.length > 0) {
    session.deps.onEntry(
      `init file ${session.options.initFile}: replacing the keys and token of an earlier OpenBao (the old ones are in git history); generated values are kept`,
    )
  }
  for (const key of earlier) session.setFile(key, undefined)
  session.setFile(INIT_KEYS.initializedAt, new Date(session.deps.now()).toISOString())
  session.setFile(INIT_KEYS.rootToken, rootToken)
  // Base64, the form `bao operator init` prints and `bao operator generate-root` / `unseal` take.
  const recoveryKeys = init.recovery_keys_base64 ?? init.recovery_keys ?? []
  const unsealKeys = init.keys_base64 ?? init.keys ?? []
  for (const [i, key] of recoveryKeys.entries()) session.setFile(INIT_KEYS.recoveryKey(i + 1), key)
  for (const [i, key] of unsealKeys.entries()) session.setFile(INIT_KEYS.unsealKey(i + 1), key)
  if (recoveryKeys.length) session.setFile(INIT_KEYS.recoveryThreshold, String(shares))
  if (unsealKeys.length) session.setFile(INIT_KEYS.unsealThreshold, String(shares))
  await session.saveFile()
  session.entry(
    'OpenBao',
    'created',
    `initialised; ${recoveryKeys.length ? `${recoveryKeys.length} recovery key` : `${unsealKeys.length} unseal key`} and the root token stored encrypted in ${session.options.initFile}`,
  )
  if (unsealKeys.length) await ensureUnsealed(session, { ...status, initialized: true, sealed: true })
  else await waitUnsealed(session, status)
  session.useToken(rootToken, 'the root token from initialisation')
  await replaceAdminToken(session, rootToken)
}

/** Uses the stored admin token; falls back to a stored root token (an interrupted first run, or a recovery). */
export async function authenticate(session: OpenBaoSession): Promise<void> {
  const initFile = session.options.initFile
  if (!session.fileExists) {
    throw new BootstrapError(
      `OpenBao at ${session.options.address} is initialised, but the init file ${initFile} does not exist: setup has no token for it`,
      {
        hint: recoveryHint(initFile, 'restore the file from git if it was committed; otherwise'),
      },
    )
  }
  const admin = session.file[INIT_KEYS.adminToken]
  const root = session.file[INIT_KEYS.rootToken]
  const adminLookup = admin ? await lookup(session, admin) : undefined
  if (admin && adminLookup) {
    session.useToken(admin, `the admin token in ${initFile}`)
    await ensurePolicy(session, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
    await renewIfDue(session, adminLookup)
    if (root) await revokeRoot(session, root)
    return
  }
  if (root && (await lookup(session, root))) {
    session.useToken(root, `the root token in ${initFile}`)
    if (admin)
      session.deps.onEntry(
        `the admin token in ${initFile} was rejected: making a new one with the root token stored there`,
      )
    await replaceAdminToken(session, root)
    return
  }
  const at = `OpenBao at ${session.options.address}`
  const why = admin
    ? `${at} rejected the admin token in ${initFile} (403: expired, revoked, or from another OpenBao)`
    : root
      ? `${at} rejected the root token in ${initFile}, which holds no admin token`
      : `${initFile} holds no token for ${at}`
  throw new BootstrapError(why, { hint: recoveryHint(initFile) })
}

/** The token's lookup data when OpenBao accepts it; undefined when it answers 403. */
async function lookup(
  session: OpenBaoSession,
  token: string,
): Promise<{ ttl?: number; period?: number } | undefined> {
  const response = await session.send('GET', 'auth/token/lookup-self', undefined, token)
  if (response.status === 403) return undefined
  if (response.status !== 200) throw session.failure(response, 'look up its token')
  return dataOf(response.body) ?? {}
}

async function renewIfDue(session: OpenBaoSession, lookup: { ttl?: number; period?: number }): Promise<void> {
  const { ttl = 0, period = 0 } = lookup
  if (period <= 0 || ttl >= period / 2) {
    session.entry(
      'admin token',
      'unchanged',
      `valid for ${Math.round(ttl / 86400)} more days; renewed by a run after half its period`,
    )
    return
  }
  await session.change('admin token', 'updated', `renewed for ${Math.round(period / 86400)} days`, () =>
    session.must('POST', 'auth/token/renew-self', {}, 'renew its token'),
  )
}

/** With the root token in use: the admin policy, a new orphan admin token stored in the init file, then the root token revoked. */
async function replaceAdminToken(session: OpenBaoSession, root: string): Promise<void> {
  await ensurePolicy(session, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
  if (session.options.dryRun) {
    session.entry('admin token', 'created', `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}`)
    await revokeRoot(session, root)
    return
  }
  // An orphan: revoking the root token revokes its children, and this one must outlive it.
  const body = await session.must(
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
  if (!token) throw new BootstrapError(`OpenBao at ${session.options.address} created no admin token`)
  redactor.add(token)
  session.setFile(INIT_KEYS.adminToken, token)
  session.setFile(INIT_KEYS.adminAccessor, auth?.accessor ?? '')
  // Stored before the root token goes: a stop in between leaves a file with both, never with neither.
  await session.saveFile()
  session.entry(
    'admin token',
    'created',
    `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}, stored encrypted in ${session.options.initFile}`,
  )
  session.useToken(token, `the admin token in ${session.options.initFile}`)
  await revokeRoot(session, root)
}

async function revokeRoot(session: OpenBaoSession, root: string): Promise<void> {
  if (session.options.dryRun) {
    session.entry('root token', 'updated', `revoked and removed from ${session.options.initFile}`)
    return
  }
  const response = await session.send('POST', 'auth/token/revoke-self', {}, root)
  // 403: it no longer works (revoked or expired): the same end.
  if (response.status !== 204 && response.status !== 200 && response.status !== 403)
    throw session.failure(response, 'revoke the root token')
  session.setFile(INIT_KEYS.rootToken, undefined)
  session.setFile(INIT_KEYS.rootRevokedAt, new Date(session.deps.now()).toISOString())
  await session.saveFile()
  session.entry(
    'root token',
    'updated',
    `revoked and removed from ${session.options.initFile}; \`bao operator generate-root\` with the recovery keys makes a new one`,
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
