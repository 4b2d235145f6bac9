import { createHash } from 'node:crypto'
import { waitFor } from '../../core/wait.ts'
import { GENERATED_PREFIX, INIT_KEYS } from '../init-store.ts'
import type { Snapshot } from '../snapshot.ts'
import { initRequest, POLL_MS, type SealStatus, waitUnsealed } from './init.ts'
import { markInitPending } from './interrupted-init.ts'
import type { OpenBaoSession } from './session.ts'

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
  await markInitPending(session.initValues, session.options.storage)
  const init = await initRequest(session, status, 'initialise OpenBao to restore the snapshot into')
  const root = init.root_token ?? ''
  for (const key of init.keys_base64 ?? [])
    await session.bao.send('PUT', 'sys/unseal', { key }, { token: '' })
  // Kept until the restore is done: a run that stops in between resumes it (resumeRestore).
  session.initValues.set(INIT_KEYS.rootToken, root)
  session.initValues.set(INIT_KEYS.restoringFrom, restoreMarker(snapshot))
  session.initValues.set(INIT_KEYS.initPending, undefined)
  await session.initValues.save()
  await waitUnsealed(session, status)
  await restoreWith(session, root, snapshot, file)
}

/** An OpenBao a stopped run initialised for a restore: the root token of that init is in the init file. */
export function restorePending(session: OpenBaoSession, snapshot: Snapshot | undefined): boolean {
  return (
    !!snapshot &&
    session.initValues.get(INIT_KEYS.restoringFrom) === restoreMarker(snapshot) &&
    !!session.initValues.get(INIT_KEYS.rootToken)
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
  await restoreWith(session, session.initValues.get(INIT_KEYS.rootToken) as string, snapshot, file)
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
    (await session.bao.send('GET', 'auth/token/lookup-self', undefined, { token })).status === 200
  let sentAt: number | undefined
  await waitFor(
    `OpenBao at ${session.options.address} to answer with the snapshot's data`,
    async () => {
      const health = await session.bao.send(
        'GET',
        'sys/health?standbyok=false&sealedcode=299&uninitcode=299',
        undefined,
        {
          token: '',
        },
      )
      const sealed = (health.body as { sealed?: boolean } | undefined)?.sealed
      if (sealed && unsealKeys.length)
        for (const key of unsealKeys) await session.bao.send('PUT', 'sys/unseal', { key }, { token: '' })
      if (health.status !== 200) return false
      if (await works(admin)) return true
      // Not sent yet, or sent and still not applied while the init's own data still answers: (again).
      if ((sentAt === undefined || session.deps.now() - sentAt > 15_000) && (await works(root))) {
        await session.bao.restoreSnapshot(root, snapshot.bytes)
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
  for (const key of session.initValues.keys())
    if (!key.startsWith(GENERATED_PREFIX) && !(key in snapshot.init)) session.initValues.set(key, undefined)
  for (const [key, value] of Object.entries(snapshot.init)) session.initValues.set(key, value)
  await session.initValues.save()
  session.entry(
    'OpenBao',
    'restored',
    `from ${file}, taken ${snapshot.takenAt}: every value, policy, role and token as they were then; the init file holds its admin token and recovery keys again`,
  )
}
