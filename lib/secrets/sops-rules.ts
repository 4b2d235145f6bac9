import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { relativeTo } from './common.ts'

/** .sops.yaml's creation rules: who the secrets of each path are encrypted to. */

export interface SopsRule {
  /** 1-based position in creation_rules. */
  index: number
  pathRegex: string
  regex: RegExp
  /** age recipients the rule names; empty: the caller must give them (per-machine paths). */
  recipients: string[]
  encryptedRegex?: string
}

export interface SopsConfig {
  file: string
  rules: SopsRule[]
}

export function loadSopsConfig(root = repoRoot): SopsConfig {
  const file = join(root, '.sops.yaml')
  if (!existsSync(file)) {
    throw new BootstrapError(
      `${relativeTo(root, file)} does not exist: nothing says who secrets are encrypted to`,
      {
        hint: 'restore .sops.yaml from git',
      },
    )
  }
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new BootstrapError(`.sops.yaml is not valid YAML: ${errorMessage(error).split('\n')[0]}`)
  }
  const list = (doc as { creation_rules?: unknown } | null)?.creation_rules
  if (!Array.isArray(list)) throw new BootstrapError('.sops.yaml has no creation_rules list')
  const rules = list.map((raw, i): SopsRule => {
    const rule = (raw ?? {}) as Record<string, unknown>
    const index = i + 1
    const pathRegex = typeof rule.path_regex === 'string' ? rule.path_regex : ''
    let regex: RegExp
    try {
      regex = new RegExp(pathRegex)
    } catch {
      throw new BootstrapError(`.sops.yaml: creation rule ${index} has a path_regex this tool cannot read`)
    }
    const recipients = [
      ...ageList(rule.age),
      ...(Array.isArray(rule.key_groups)
        ? rule.key_groups.flatMap((group) => ageList((group as { age?: unknown } | null)?.age))
        : []),
    ]
    const encryptedRegex = typeof rule.encrypted_regex === 'string' ? rule.encrypted_regex : undefined
    return { index, pathRegex, regex, recipients, encryptedRegex }
  })
  return { file, rules }
}

function ageList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : []
  return items.map((item) => String(item).trim()).filter(Boolean)
}

/** The rule sops applies to `rel` (a path relative to the root, with `/`): the first that matches. */
export function ruleFor(config: SopsConfig, rel: string): SopsRule | undefined {
  return config.rules.find((rule) => rule.regex.test(rel))
}
