import { parse as parseYaml, stringify } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { decryptDocument, encryptYaml } from '../sops/index.ts'
import { relativeTo, type SecretsDeps } from './common.ts'

/**
 * The file one planned secret becomes: a Secret manifest with its value in stringData, encrypted
 * with sops but its names left readable (reviews see which Secret changed), and the same file read back.
 */

const ENCRYPTED_REGEX = '^(data|stringData)$'

/** The Secret one variable becomes; labels and annotations added by hand to an existing one are kept. */
export function secretManifest(
  name: string,
  namespace: string,
  value: string,
  existing?: Record<string, unknown>,
): Record<string, unknown> {
  const before = (existing?.metadata ?? {}) as Record<string, unknown>
  const metadata: Record<string, unknown> = { name, namespace }
  if (before.labels) metadata.labels = before.labels
  if (before.annotations) metadata.annotations = before.annotations
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', stringData: { value } }
}

/** What generate owns in a Secret: its name, namespace, type and the single stringData.value. */
export function sameSecret(
  doc: Record<string, unknown>,
  name: string,
  namespace: string,
  value: string,
): boolean {
  const metadata = (doc.metadata ?? {}) as Record<string, unknown>
  const stringData = doc.stringData as Record<string, unknown> | undefined
  return (
    doc.apiVersion === 'v1' &&
    doc.kind === 'Secret' &&
    metadata.name === name &&
    metadata.namespace === namespace &&
    (doc.type ?? 'Opaque') === 'Opaque' &&
    doc.data === undefined &&
    stringData !== undefined &&
    Object.keys(stringData).length === 1 &&
    stringData.value === value
  )
}

/** An existing secret file, decrypted; its data and stringData values are registered with the redactor. */
export async function decryptSecret(
  file: string,
  root: string,
  deps: SecretsDeps,
): Promise<Record<string, unknown>> {
  const doc = await decryptDocument(file, { cwd: root }, deps)
  const rel = relativeTo(root, file)
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BootstrapError(`${rel} does not hold a Secret manifest`)
  }
  const record = doc as Record<string, unknown>
  for (const field of ['stringData', 'data']) {
    const values = record[field]
    if (values && typeof values === 'object')
      for (const value of Object.values(values)) if (typeof value === 'string') redactor.add(value)
  }
  return record
}

/** A Secret manifest as the ciphertext of `file`; refused unless its value came out encrypted and sealed by a MAC. */
export async function encryptSecret(
  manifest: Record<string, unknown>,
  file: string,
  recipients: string[],
  root: string,
  deps: SecretsDeps,
): Promise<string> {
  const stdout = await encryptYaml(
    stringify(manifest),
    { file, recipients, outputType: 'yaml', encryptedRegex: ENCRYPTED_REGEX, cwd: root },
    deps,
  )
  const doc = parseYaml(stdout) as { stringData?: { value?: unknown }; sops?: { mac?: unknown } } | null
  if (
    typeof doc?.stringData?.value !== 'string' ||
    !doc.stringData.value.startsWith('ENC[') ||
    !doc.sops?.mac
  ) {
    throw new BootstrapError(`sops left ${relativeTo(root, file)}'s value unencrypted: refusing to write it`)
  }
  return stdout
}
