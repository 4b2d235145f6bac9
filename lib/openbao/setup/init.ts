import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import { waitFor } from '../../core/wait.ts'
import { networkDetail } from '../client.ts'
import { GENERATED_PREFIX, INIT_KEYS } from '../init-store.ts'
import type { Snapshot } from '../snapshot.ts'
import { replaceAdminToken } from './admin-token.ts'
import { markInitPending } from './interrupted-init.ts'
import type { OpenBaoSession } from './session.ts'

/**
 * Reaching OpenBao: wait until it answers; the first time, initialise it (its output into the
 * init file, and its root token swapped for an admin token: admin-token.ts), later unseal it if
 * need be.
 */

export interface SealStatus {
  initialized: boolean
  sealed: boolean
  type?: string
  recovery_seal?: boolean
}

/** How often setup asks OpenBao again while it waits for it. */
export const POLL_MS = 500

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
  const keys = session.initValues
    .keys()
    .filter((key) => key.startsWith('unseal_key_'))
    .sort()
    .map((key) => session.initValues.get(key) as string)
  if (!isAutoUnseal(status) && keys.length > 0) {
    if (session.options.dryRun) {
      throw new BootstrapError(`OpenBao at ${session.options.address} is sealed: a dry run cannot read it`, {
        hint: 'run without --dry-run to unseal it with the unseal keys in the init file',
      })
    }
    for (const key of keys) {
      const response = await session.bao.send('PUT', 'sys/unseal', { key }, { token: '' })
      if (response.status !== 200)
        throw session.bao.failure(response, 'unseal with the keys in the init file')
      if ((response.body as { sealed?: boolean }).sealed === false) break
    }
    session.entry('OpenBao seal', 'updated', `unsealed with the unseal keys in ${session.options.initFile}`)
  }
  await waitUnsealed(session, status)
}

export async function waitUnsealed(session: OpenBaoSession, status: SealStatus): Promise<void> {
  await waitFor(
    `OpenBao at ${session.options.address} to be unsealed`,
    async () => {
      const response = await session.bao.send('GET', 'sys/seal-status', undefined, { token: '' })
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
  session.bao.assumeEmpty()
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
export async function initRequest(
  session: OpenBaoSession,
  status: SealStatus,
  what: string,
): Promise<InitAnswer> {
  const body = isAutoUnseal(status)
    ? { recovery_shares: INIT_SHARES, recovery_threshold: INIT_SHARES }
    : { secret_shares: INIT_SHARES, secret_threshold: INIT_SHARES }
  // Init on raft storage waits for the single node's leader election (5-10 s measured locally).
  const response = await session.bao.send('PUT', 'sys/init', body, { token: '', timeoutMs: INIT_TIMEOUT_MS })
  if (response.status !== 200) throw session.bao.failure(response, what)
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
  // Initialisation's output exists once: make sure it can be stored, and mark what is being
  // initialised, before asking for it (interrupted-init.ts).
  await markInitPending(session.initValues, session.options.storage)
  const shares = INIT_SHARES
  const init = await initRequest(session, status, 'initialise OpenBao')
  const rootToken = init.root_token ?? ''

  session.initValues.set(INIT_KEYS.initPending, undefined)
  const earlier = session.initValues.keys().filter((key) => !key.startsWith(GENERATED_PREFIX))
  if (earlier.length > 0) {
    session.deps.onEntry(
      `init file ${session.options.initFile}: replacing the keys and token of an earlier OpenBao (the old ones are in git history); generated values are kept`,
    )
  }
  for (const key of earlier) session.initValues.set(key, undefined)
  session.initValues.set(INIT_KEYS.initializedAt, new Date(session.deps.now()).toISOString())
  session.initValues.set(INIT_KEYS.rootToken, rootToken)
  // Base64, the form `bao operator init` prints and `bao operator generate-root` / `unseal` take.
  const recoveryKeys = init.recovery_keys_base64 ?? init.recovery_keys ?? []
  const unsealKeys = init.keys_base64 ?? init.keys ?? []
  for (const [i, key] of recoveryKeys.entries()) session.initValues.set(INIT_KEYS.recoveryKey(i + 1), key)
  for (const [i, key] of unsealKeys.entries()) session.initValues.set(INIT_KEYS.unsealKey(i + 1), key)
  if (recoveryKeys.length) session.initValues.set(INIT_KEYS.recoveryThreshold, String(shares))
  if (unsealKeys.length) session.initValues.set(INIT_KEYS.unsealThreshold, String(shares))
  await session.initValues.save()
  session.entry(
    'OpenBao',
    'created',
    `initialised; ${recoveryKeys.length ? `${recoveryKeys.length} recovery key` : `${unsealKeys.length} unseal key`} and the root token stored encrypted in ${session.options.initFile}`,
  )
  if (unsealKeys.length) await ensureUnsealed(session, { ...status, initialized: true, sealed: true })
  else await waitUnsealed(session, status)
  session.bao.useToken(rootToken, 'the root token from initialisation')
  await replaceAdminToken(session, rootToken)
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
