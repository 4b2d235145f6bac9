import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { recipientOf } from '../bootstrap-secrets/age.ts'
import { overlayKeyProblems } from '../bootstrap-secrets/overlay-keys.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { type EnvConfig, envPath, listEnvironments, loadConfig } from '../runner/config.ts'
import { decrypt, recipientsIn } from '../sops/index.ts'
import { defaultDeps, readText, type SecretsDeps, type SecretsOptions, sameSet } from './common.ts'
import { findPrivateKeys } from './private-keys.ts'
import { loadSopsConfig, ruleFor, type SopsConfig } from './sops-rules.ts'

/** `just secrets-check`: what must never be committed, found in the files of the checkout. */

const SECRET_FILE_NAME =
  /(^|\/)(secrets?\.(ya?ml|json|env)|[^/]+\.(secret|secrets)\.(ya?ml|json)|[^/]+\.(sops|enc)\.(ya?ml|json|env))$/
const DOTENV_NAME = /(^|\/)\.env(\.(?!example$|sample$|template$)[^/]+)?$/

export interface RepoFiles {
  /** Tracked, and untracked but not ignored: what `git add -A` would commit. */
  committable: string[]
  /** Ignored files under gitops/ and environments/: per-machine material. */
  ignored: string[]
}

export async function listRepoFiles(root: string, deps: SecretsDeps = defaultDeps): Promise<RepoFiles> {
  const git = async (args: string[]) => {
    try {
      const { stdout } = await deps.run('git', ['ls-files', '-z', ...args], { cwd: root, env: deps.env })
      return [...new Set(stdout.split('\0').filter(Boolean))]
        .filter((rel) => existsSync(join(root, rel)))
        .sort()
    } catch (error) {
      throw new BootstrapError(`cannot list the files of ${root} with git: ${errorMessage(error)}`, {
        hint: 'run this in a git checkout of the repository',
        cause: error,
      })
    }
  }
  return {
    committable: await git(['-co', '--exclude-standard']),
    ignored: await git(['-o', '-i', '--exclude-standard', '--', 'gitops', 'environments']),
  }
}

export interface Finding {
  file: string
  line?: number
  problem: string
}

export function isSecretFileName(rel: string): boolean {
  return SECRET_FILE_NAME.test(rel)
}

/**
 * Everything `just secrets-check` refuses, one finding per file (and line for keys):
 *  - under gitops/ and environments/, a Secret manifest or a secrets file (`*.secret.yaml`,
 *    `*.sops.*`, `*.enc.*`, `secrets.*`) that is not SOPS-encrypted, ignored files included;
 *  - a committable SOPS file there encrypted to other recipients than its .sops.yaml rule names,
 *    or on a path .sops.yaml gives no keys for (per-machine files must be gitignored);
 *  - anywhere in what would be committed: an age private key or a PEM private key block, and
 *    plaintext `.env` files.
 * Ignored per-machine files are only checked for being encrypted: their keys are this machine's.
 */
export async function checkSecrets(options: SecretsOptions = {}): Promise<Finding[]> {
  const root = options.root ?? repoRoot
  const deps = options.deps ?? defaultDeps
  const findings: Finding[] = []
  let config: SopsConfig | undefined
  try {
    config = loadSopsConfig(root)
    for (const rule of config.rules) {
      if (rule.recipients.length === 1) {
        findings.push({
          file: '.sops.yaml',
          problem: `creation rule ${rule.index} (${rule.pathRegex}) names one age recipient: the two-key design needs the team key and the cluster key`,
        })
      }
    }
  } catch (error) {
    findings.push({ file: '.sops.yaml', problem: errorMessage(error) })
  }
  const files = await listRepoFiles(root, deps)
  const committable = new Set(files.committable)
  const inScope = (rel: string) => rel.startsWith('gitops/') || rel.startsWith('environments/')

  for (const rel of [...files.committable, ...files.ignored].filter(inScope)) {
    const text = await readText(join(root, rel))
    if (text === undefined) continue
    const secretName = isSecretFileName(rel)
    if (!secretName && !(isStructured(rel) && holdsSecretManifest(text))) continue
    const problems = sopsProblems(text, rel)
    if (problems.length > 0) {
      findings.push({
        file: rel,
        problem: `${secretName ? 'secrets file' : 'Secret manifest'} ${problems.join('; ')}`,
      })
      continue
    }
    if (!committable.has(rel) || !config) continue
    const rule = ruleFor(config, rel)
    if (!rule || rule.recipients.length === 0) {
      findings.push({
        file: rel,
        problem:
          '.sops.yaml names no keys for this path (a per-machine file): it must be gitignored, or get a creation rule with the team and cluster keys',
      })
      continue
    }
    const actual = recipientsIn(text, rel)
    if (!sameSet(actual, rule.recipients)) {
      const missing = rule.recipients.filter((r) => !actual.includes(r))
      const extra = actual.filter((r) => !rule.recipients.includes(r))
      findings.push({
        file: rel,
        problem: `encrypted for other recipients than .sops.yaml rule ${rule.index} asks for (${[
          missing.length ? `missing ${missing.join(', ')}` : '',
          extra.length ? `not in the rule ${extra.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ')}): run \`just secrets-rotate\``,
      })
    }
  }

  findings.push(...(await overlayKeyFindings(root, deps)))

  for (const rel of files.committable) {
    const text = await readText(join(root, rel))
    if (text === undefined) continue
    if (DOTENV_NAME.test(rel) && !/^sops_mac=/m.test(text)) {
      findings.push({
        file: rel,
        problem: 'a plaintext .env file that git would commit: add it to .gitignore (or remove it)',
      })
    }
    for (const hit of findPrivateKeys(text)) findings.push({ file: rel, line: hit.line, problem: hit.kind })
  }
  return findings
}

/**
 * What create's preflight refuses (lib/bootstrap-secrets/overlay-keys.ts), for every environment whose bootstrap file
 * a key here decrypts: an overlay file its cluster key cannot decrypt. The others are left to the
 * recipients check above: their cluster key is not this machine's to read.
 */
async function overlayKeyFindings(root: string, deps: SecretsDeps): Promise<Finding[]> {
  const findings: Finding[] = []
  for (const name of listEnvironments(join(root, 'environments'))) {
    let env: EnvConfig
    let identity: string | undefined
    try {
      env = loadConfig(name, join(root, 'environments'))
      const sopsFile = envPath(env, env.secrets.sopsFile)
      if (!existsSync(sopsFile)) continue
      identity = (await decrypt(sopsFile, {}, deps))[env.ageKey.field]
    } catch {
      continue // no key here decrypts it, or the config is broken (loading it says so)
    }
    const cluster = identity && (await recipientOf(identity).catch(() => undefined))
    if (!cluster) continue // a placeholder, not a key yet
    for (const problem of await overlayKeyProblems(env, cluster))
      findings.push({
        file: problem.file,
        problem: `${problem.message} (environment ${name}): create would stop here`,
      })
  }
  return findings
}

export function formatFinding(finding: Finding): string {
  return `${finding.file}${finding.line ? `:${finding.line}` : ''}: ${finding.problem}`
}

function isStructured(rel: string): boolean {
  return /\.(ya?ml|json)$/.test(rel)
}

/** Whether a YAML/JSON file holds a Kubernetes Secret (a broken file is judged by its text). */
export function holdsSecretManifest(text: string): boolean {
  try {
    const docs = parseAllDocuments(text)
    if (docs.some((doc) => doc.errors.length > 0)) throw new Error('unparsable')
    return docs.some((doc) => {
      const value = doc.toJS() as { kind?: unknown; apiVersion?: unknown } | null
      return value?.kind === 'Secret' && (value.apiVersion === undefined || value.apiVersion === 'v1')
    })
  } catch {
    return /^\s*"?kind"?\s*:\s*"?Secret"?\s*,?\s*$/m.test(text)
  }
}

/** Why a file is not a complete SOPS file; empty when it is. Names keys, never values. */
export function sopsProblems(text: string, rel: string): string[] {
  if (/\.env$/.test(rel)) {
    if (!/^sops_mac=ENC\[/m.test(text)) return ['is not SOPS-encrypted (no sops_mac)']
    const clear = text
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#') && !line.startsWith('sops_'))
      .filter((line) => !line.slice(line.indexOf('=') + 1).startsWith('ENC['))
      .map((line) => line.split('=')[0])
    return clear.length ? [`has values in clear text: ${clear.join(', ')}`] : []
  }
  let docs: unknown[]
  try {
    const parsed = parseAllDocuments(text)
    if (parsed.some((doc) => doc.errors.length > 0)) return ['is not valid YAML/JSON, so not a SOPS file']
    docs = parsed.map((doc) => doc.toJS()).filter((doc) => doc !== null && doc !== undefined)
  } catch {
    return ['is not valid YAML/JSON, so not a SOPS file']
  }
  if (docs.length === 0) return ['is empty (not SOPS-encrypted)']
  const problems: string[] = []
  for (const doc of docs) {
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push('is not SOPS-encrypted (not a mapping with sops metadata)')
      continue
    }
    const record = doc as Record<string, unknown>
    const meta = record.sops as Record<string, unknown> | undefined
    if (!meta || typeof meta !== 'object') {
      problems.push('is not SOPS-encrypted (no sops metadata)')
      continue
    }
    if (typeof meta.mac !== 'string' || !meta.mac.startsWith('ENC[')) {
      problems.push('has sops metadata without a MAC (hand-made or damaged)')
      continue
    }
    const clear = clearPaths(record, meta)
    if (record.kind === 'Secret') {
      for (const field of ['data', 'stringData']) {
        for (const path of leafPaths(record[field], field)) {
          if (!path.encrypted && !clear.includes(path.path)) clear.push(path.path)
        }
      }
    }
    if (clear.length) problems.push(`has values in clear text: ${clear.join(', ')}`)
  }
  return problems
}

/** Key paths whose values sops should have encrypted (per the file's own metadata) but did not. */
function clearPaths(doc: Record<string, unknown>, meta: Record<string, unknown>): string[] {
  const str = (key: string) =>
    typeof meta[key] === 'string' && meta[key] ? (meta[key] as string) : undefined
  const unencSuffix = str('unencrypted_suffix')
  const encSuffix = str('encrypted_suffix')
  const regex = (key: string) => {
    const source = str(key)
    if (!source) return undefined
    try {
      return new RegExp(source)
    } catch {
      return undefined
    }
  }
  const unencRegex = regex('unencrypted_regex')
  const encRegex = regex('encrypted_regex')
  const defaultEncrypted = !(encSuffix || str('encrypted_regex'))
  const clear: string[] = []
  const walk = (node: unknown, path: string, decided: boolean | undefined) => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, `${path}[${i}]`, decided)
      return
    }
    if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (!path && key === 'sops') continue
        let state = decided
        if (state === undefined) {
          if (unencSuffix && key.endsWith(unencSuffix)) state = false
          else if (encSuffix && key.endsWith(encSuffix)) state = true
          else if (unencRegex?.test(key)) state = false
          else if (encRegex?.test(key)) state = true
        }
        walk(value, path ? `${path}.${key}` : key, state)
      }
      return
    }
    if (node === null || node === undefined) return
    const encrypted = typeof node === 'string' && node.startsWith('ENC[')
    if (!encrypted && (decided ?? defaultEncrypted)) clear.push(path)
  }
  walk(doc, '', undefined)
  return clear
}

function leafPaths(node: unknown, path: string): { path: string; encrypted: boolean }[] {
  if (node === null || node === undefined) return []
  if (Array.isArray(node)) return node.flatMap((item, i) => leafPaths(item, `${path}[${i}]`))
  if (typeof node === 'object')
    return Object.entries(node as Record<string, unknown>).flatMap(([key, value]) =>
      leafPaths(value, `${path}.${key}`),
    )
  return [{ path, encrypted: typeof node === 'string' && node.startsWith('ENC[') }]
}
