import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { errorMessage } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { recipientsIn, updateKeys } from '../sops/index.ts'
import { listRepoFiles } from './check.ts'
import { defaultDeps, readText, type SecretsOptions, sameSet } from './common.ts'
import { loadSopsConfig, ruleFor } from './sops-rules.ts'

export interface RotateResult {
  changed: { file: string; added: string[]; removed: string[] }[]
  unchanged: string[]
  /** Files .sops.yaml gives no keys for (per machine): left as they are. */
  perMachine: string[]
  failed: { file: string; reason: string }[]
}

/**
 * After .sops.yaml's recipients change: `sops updatekeys` on every SOPS file of the checkout
 * (committable, and ignored ones under gitops/ and environments/) whose rule names keys and
 * whose recipients differ from them. A file already matching is not touched, so git shows only
 * real changes. Needs a key that decrypts each file (SOPS_AGE_KEY_FILE).
 */
export async function rotateSecrets(options: SecretsOptions = {}): Promise<RotateResult> {
  const root = options.root ?? repoRoot
  const deps = options.deps ?? defaultDeps
  const config = loadSopsConfig(root)
  const files = await listRepoFiles(root, deps)
  const result: RotateResult = { changed: [], unchanged: [], perMachine: [], failed: [] }
  const candidates = [...new Set([...files.committable, ...files.ignored])].sort()
  for (const rel of candidates) {
    if (!/\.(ya?ml|json|env)$/.test(rel) || rel === '.sops.yaml') continue
    const text = await readText(join(root, rel))
    if (text === undefined || !isSopsText(text, rel)) continue
    const rule = ruleFor(config, rel)
    if (!rule || rule.recipients.length === 0) {
      result.perMachine.push(rel)
      continue
    }
    const before = recipientsIn(text, rel)
    if (sameSet(before, rule.recipients)) {
      result.unchanged.push(rel)
      continue
    }
    try {
      // terse: the list names the file; the reason says what went wrong with it.
      await updateKeys(rel, { cwd: root, terse: true }, deps)
    } catch (error) {
      result.failed.push({ file: rel, reason: errorMessage(error) })
      continue
    }
    const after = recipientsIn(await readFile(join(root, rel), 'utf8'), rel)
    result.changed.push({
      file: rel,
      added: after.filter((r) => !before.includes(r)),
      removed: before.filter((r) => !after.includes(r)),
    })
  }
  return result
}

function isSopsText(text: string, rel: string): boolean {
  if (/\.env$/.test(rel)) return /^sops_mac=/m.test(text)
  if (!/^\s*"?sops"?\s*:/m.test(text)) return false
  try {
    return parseAllDocuments(text).some((doc) => {
      const value = doc.toJS() as { sops?: { mac?: unknown } } | null
      return Boolean(value?.sops && typeof value.sops === 'object' && value.sops.mac)
    })
  } catch {
    return false
  }
}
