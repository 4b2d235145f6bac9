import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import { dataOf } from '../client.ts'
import { INIT_KEYS, recoveryHint } from '../init-store.ts'
import { ensurePolicy } from './access.ts'
import { ADMIN_POLICY, adminPolicy } from './policy.ts'
import type { BaoRequests } from './requests.ts'
import type { OpenBaoSession } from './session.ts'

/**
 * The token setup works with: an admin token kept in the init file, never the root token, which
 * only ever makes the admin token and is then revoked, so no token that can do everything stays
 * stored anywhere.
 */

/** Periodic: renewed by every run in the second half of its period, it never expires while setup runs monthly. */
export const ADMIN_TOKEN_PERIOD = '768h'

/** Uses the stored admin token; falls back to a stored root token (an interrupted first run, or a recovery). */
export async function authenticate(session: OpenBaoSession): Promise<void> {
  const initFile = session.options.initFile
  if (!session.initValues.exists) {
    throw new BootstrapError(
      `OpenBao at ${session.options.address} is initialised, but the init file ${initFile} does not exist: setup has no token for it`,
      {
        hint: recoveryHint(initFile, 'restore the file from git if it was committed; otherwise'),
      },
    )
  }
  const admin = session.initValues.get(INIT_KEYS.adminToken)
  const root = session.initValues.get(INIT_KEYS.rootToken)
  const adminLookup = admin ? await lookup(session.bao, admin) : undefined
  if (admin && adminLookup) {
    session.bao.useToken(admin, `the admin token in ${initFile}`)
    await ensurePolicy(session.bao, session, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
    await renewIfDue(session, adminLookup)
    if (root) await revokeRoot(session, root)
    return
  }
  if (root && (await lookup(session.bao, root))) {
    session.bao.useToken(root, `the root token in ${initFile}`)
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
  bao: BaoRequests,
  token: string,
): Promise<{ ttl?: number; period?: number } | undefined> {
  const response = await bao.send('GET', 'auth/token/lookup-self', undefined, { token })
  if (response.status === 403) return undefined
  if (response.status !== 200) throw bao.failure(response, 'look up its token')
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
    session.bao.must('POST', 'auth/token/renew-self', {}, 'renew its token'),
  )
}

/** With the root token in use: the admin policy, a new orphan admin token stored in the init file, then the root token revoked. */
export async function replaceAdminToken(session: OpenBaoSession, root: string): Promise<void> {
  await ensurePolicy(session.bao, session, ADMIN_POLICY, adminPolicy(), `policy ${ADMIN_POLICY}`)
  if (session.options.dryRun) {
    session.entry('admin token', 'created', `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}`)
    await revokeRoot(session, root)
    return
  }
  // An orphan: revoking the root token revokes its children, and this one must outlive it.
  const body = await session.bao.must(
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
  session.initValues.set(INIT_KEYS.adminToken, token)
  session.initValues.set(INIT_KEYS.adminAccessor, auth?.accessor ?? '')
  // Stored before the root token goes: a stop in between leaves a file with both, never with neither.
  await session.initValues.save()
  session.entry(
    'admin token',
    'created',
    `policy ${ADMIN_POLICY}, period ${ADMIN_TOKEN_PERIOD}, stored encrypted in ${session.options.initFile}`,
  )
  session.bao.useToken(token, `the admin token in ${session.options.initFile}`)
  await revokeRoot(session, root)
}

async function revokeRoot(session: OpenBaoSession, root: string): Promise<void> {
  if (session.options.dryRun) {
    session.entry('root token', 'updated', `revoked and removed from ${session.options.initFile}`)
    return
  }
  const response = await session.bao.send('POST', 'auth/token/revoke-self', {}, { token: root })
  // 403: it no longer works (revoked or expired): the same end.
  if (response.status !== 204 && response.status !== 200 && response.status !== 403)
    throw session.bao.failure(response, 'revoke the root token')
  session.initValues.set(INIT_KEYS.rootToken, undefined)
  session.initValues.set(INIT_KEYS.rootRevokedAt, new Date(session.deps.now()).toISOString())
  await session.initValues.save()
  session.entry(
    'root token',
    'updated',
    `revoked and removed from ${session.options.initFile}; \`bao operator generate-root\` with the recovery keys makes a new one`,
  )
}
