import { createHash } from 'node:crypto'
import type { OpenBaoStorage } from '../endpoint.ts'
import { INIT_KEYS } from '../init-store.ts'
import type { InitValues } from './init-values.ts'

/**
 * Initialisation's answer — the root token, the recovery keys — exists once, in the memory of the
 * run that asked, until it is saved; the request can take a minute. A run killed in between leaves
 * an OpenBao initialised for no one. So the storage about to be initialised is written into the init
 * file first, and removed with the answer: a later run that finds OpenBao initialised on that very
 * storage, with the mark still there, knows that no one ever had a token for it — nothing can be in
 * it — and starts it over on a new, empty storage. Anywhere else (no mark, or another storage) an
 * initialised OpenBao is never thrown away.
 */

/** Before the init request: the storage it is about to initialise, saved (which also proves the file can be written). */
export async function markInitPending(initValues: InitValues, storage?: OpenBaoStorage): Promise<void> {
  const id = await storage?.id()
  if (!id) return initValues.preflight()
  initValues.set(INIT_KEYS.initPending, storageMark(id))
  await initValues.save()
}

/** OpenBao, found initialised, was initialised on this storage by a run that did not live to save the answer. */
export async function interruptedInit(initValues: InitValues, storage?: OpenBaoStorage): Promise<boolean> {
  const pending = initValues.get(INIT_KEYS.initPending)
  if (!pending || !storage) return false
  const id = await storage.id()
  return !!id && storageMark(id) === pending
}

/** A digest: every value of the init file is masked in output as a secret, and the id need not be. */
function storageMark(id: string): string {
  return createHash('sha256').update(`openbao storage ${id}`).digest('hex')
}
