/**
 * SOPS files, through the real sops binary: the one module that runs it (sops/binary.ts), and the
 * one explanation of its failures (sops/explain.ts), naming the file and what to do. Plaintext only
 * ever travels through pipes (stdin, stdout), never through a file; every decrypted value is
 * registered with the redactor before anyone sees it (decryptDocument leaves that to its caller,
 * which knows which strings are secret). Import it from here; the parts live in lib/sops/:
 *  - decrypt.ts: decrypt (flat string values), decryptDocument (a whole document), decryptAhead
 *    (a decrypt started before the step that needs it);
 *  - encrypt.ts: encrypt, encryptYaml, writeEncrypted;
 *  - recipients.ts: who a file is encrypted to, from its metadata (key groups too), no key needed;
 *  - edit.ts (the terminal handed to sops' editor), update-keys.ts, exec-env.ts;
 *  - file.ts: the format a name gives, and the errors for a missing or non-SOPS file.
 */
export type { SopsDeps } from './binary.ts'
export { type DecryptOptions, decrypt, decryptAhead, decryptDocument } from './decrypt.ts'
export { edit } from './edit.ts'
export { type EncryptOptions, encrypt, encryptYaml, writeEncrypted } from './encrypt.ts'
export { execEnv } from './exec-env.ts'
export { formatOf, type SopsFormat } from './file.ts'
export { recipientsIn, recipientsOf } from './recipients.ts'
export { updateKeys } from './update-keys.ts'
