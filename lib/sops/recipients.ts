import { readFile } from 'node:fs/promises'
import { parseAllDocuments } from 'yaml'
import { assertExists, formatOf, notSops } from './file.ts'

/**
 * Who a SOPS file is encrypted to, read from its metadata (no key needed): the age recipients of
 * every document, the top-level list and every key group's (`key_groups`, when a .sops.yaml rule
 * splits the data key), each once. One reader for every caller: encrypting to the recipients a
 * file has, explaining who could decrypt it, checking it against .sops.yaml.
 */

// dotenv flattens the metadata into keys: sops_age__list_0__map_recipient, and within key groups
// sops_key_groups__list_0__map_age__list_0__map_recipient.
const DOTENV_RECIPIENT = /^sops_(?:key_groups__list_\d+__map_)?age__list_\d+__map_recipient=(.*)$/

export async function recipientsOf(file: string): Promise<string[]> {
  assertExists(file)
  return recipientsIn(await readFile(file, 'utf8'), file)
}

/** The same for a file's text; `file` names it (its format comes from the name). */
export function recipientsIn(text: string, file: string): string[] {
  const found = new Set<string>()
  if (formatOf(file) === 'dotenv') {
    const lines = text.split('\n').filter((line) => line.startsWith('sops_'))
    if (lines.length === 0) throw notSops(file)
    for (const line of lines) {
      const recipient = DOTENV_RECIPIENT.exec(line.trim())?.[1]
      if (recipient) found.add(recipient)
    }
    return [...found]
  }
  const collect = (list: unknown) => {
    if (!Array.isArray(list)) return
    for (const entry of list) {
      const recipient = (entry as { recipient?: unknown } | null)?.recipient
      if (typeof recipient === 'string') found.add(recipient)
    }
  }
  let metas: { age?: unknown; key_groups?: unknown }[]
  try {
    const docs = parseAllDocuments(text)
    if (docs.some((doc) => doc.errors.length > 0)) throw notSops(file)
    metas = docs
      .map((doc) => (doc.toJS() as { sops?: unknown } | null)?.sops)
      .filter((meta): meta is { age?: unknown; key_groups?: unknown } => !!meta && typeof meta === 'object')
  } catch {
    throw notSops(file)
  }
  if (metas.length === 0) throw notSops(file)
  for (const meta of metas) {
    collect(meta.age)
    if (Array.isArray(meta.key_groups))
      for (const group of meta.key_groups) collect((group as { age?: unknown } | null)?.age)
  }
  return [...found]
}
