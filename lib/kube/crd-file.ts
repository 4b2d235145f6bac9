import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'
import type { KObject } from './client.ts'

/**
 * A CRD manifest file, read cheaply: its name and the hash of its text come from the text itself
 * (parsing the 400 kB Application CRD takes most of a second), and the hash is kept on the CRD so a
 * run that finds the same hash there neither parses nor sends it again. Both tiers apply Argo CD's
 * CRDs this way (the local stack, and step 06 on kind and existing clusters).
 */
export const CRD_HASH_ANNOTATION = 'platform-bootstrap/manifest-sha256'

export interface CrdFile {
  file: string
  text: string
  /** The first CRD's name, read from the text; undefined when the file does not start with one. */
  name?: string
  hash: string
}

export function readCrdFile(file: string): CrdFile {
  const text = readFileSync(file, 'utf8')
  return {
    file,
    text,
    name: /^metadata:\n(?:[ \t]+.*\n)*?[ \t]{2}name:[ \t]*(\S+)/m.exec(text)?.[1],
    hash: createHash('sha256').update(text).digest('hex'),
  }
}

/** Whether the CRD as the cluster has it was applied from this very file. */
export function appliedFrom(
  current: { metadata?: { annotations?: Record<string, string> } } | undefined,
  crd: CrdFile,
): boolean {
  return current?.metadata?.annotations?.[CRD_HASH_ANNOTATION] === crd.hash
}

/** The file's CRDs, marked with its hash (and the given labels). */
export function crdObjects(crd: CrdFile, labels: Record<string, string> = {}): KObject[] {
  return parseAllDocuments(crd.text)
    .map((doc) => doc.toJS() as KObject | null)
    .filter((object): object is KObject => object?.kind === 'CustomResourceDefinition')
    .map((object) => ({
      ...object,
      metadata: {
        ...object.metadata,
        ...(Object.keys(labels).length ? { labels: { ...object.metadata.labels, ...labels } } : {}),
        annotations: { ...object.metadata.annotations, [CRD_HASH_ANNOTATION]: crd.hash },
      },
    }))
}
