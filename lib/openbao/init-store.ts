import { existsSync } from 'node:fs'
import { decrypt, encrypt, recipientsOf, type SopsDeps, writeEncrypted } from '../sops/index.ts'

/**
 * The init file: what OpenBao cannot keep across a destroy of a kind cluster (the recovery
 * keys, the admin token, and every value setup generated, so a recreated OpenBao gets the
 * same values again). Flat string values (lib/sops), SOPS-encrypted to the personal and
 * cluster keys.
 */

/** Keys of the init file. Per-initialisation keys are replaced on a re-init; `generated__*` never are. */
export const INIT_KEYS = {
  initializedAt: 'initialized_at',
  /** Only between initialisation and its revocation (a run that stopped in between resumes with it). */
  rootToken: 'root_token',
  rootRevokedAt: 'root_token_revoked_at',
  /** While an OpenBao initialised for a restore has not got the snapshot's data yet: which snapshot (a digest). */
  restoringFrom: 'restoring_snapshot_taken_at',
  /**
   * Written before OpenBao is asked to initialise, removed with the answer: which storage (a
   * digest of its id). Found with an initialised OpenBao on that storage, a run was killed in
   * between: OpenBao holds nothing (no one ever had its token) and starts over.
   */
  initPending: 'init_pending_storage',
  adminToken: 'admin_token',
  adminAccessor: 'admin_token_accessor',
  recoveryThreshold: 'recovery_threshold',
  unsealThreshold: 'unseal_threshold',
  recoveryKey: (n: number) => `recovery_key_${n}`,
  unsealKey: (n: number) => `unseal_key_${n}`,
} as const

export const GENERATED_PREFIX = 'generated__'

/** `generated__<app>__<field>`: app names are DNS labels (no `_`), so the first `__` after the prefix splits it. */
export function generatedKey(app: string, field: string): string {
  return `${GENERATED_PREFIX}${app}__${field}`
}

export interface InitStore {
  /** The file's values; undefined when there is no file yet. */
  read(): Promise<Record<string, string> | undefined>
  write(values: Record<string, string>): Promise<void>
  /** Fails now if a write would fail later: before initialisation, whose output exists only once. */
  preflight(): Promise<void>
}

/** The init file through the real sops: plaintext only in pipes; recipients those of `recipientsFrom`. */
export function sopsInitStore(file: string, recipientsFrom: string, deps?: SopsDeps): InitStore {
  return {
    read: async () => (existsSync(file) ? decrypt(file, {}, deps) : undefined),
    write: async (values) => writeEncrypted(file, values, await recipientsOf(recipientsFrom), deps),
    preflight: async () => {
      await encrypt({ preflight: 'ok' }, { file, recipients: await recipientsOf(recipientsFrom) }, deps)
    },
  }
}

/** How to get a token back when the init file holds none that works: from its recovery keys. */
export function recoveryHint(initFile: string, prefix = ''): string {
  return `${prefix ? `${prefix} ` : ''}make a root token from the recovery keys in ${initFile} (\`sops -d ${initFile}\`; \`bao operator generate-root -init\`, then \`bao operator generate-root\` with each recovery key, then \`-decode\` with the OTP), store it in the init file as root_token (\`sops set ${initFile} '["root_token"]' '"<token>"'\`) and run setup again: it makes a new admin token and revokes that root token`
}
