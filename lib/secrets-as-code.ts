import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path'
import { execa } from 'execa'
import { isSeq, parseAllDocuments, parseDocument, parse as parseYaml, stringify } from 'yaml'
import { envPath } from './bootstrap.ts'
import { listEnvironments, loadConfig } from './config.ts'
import { BootstrapError, errorMessage, lastLines, ProcessError } from './errors.ts'
import { run as defaultRun, type Run } from './exec.ts'
import { Logger } from './log.ts'
import { personalAgeKeyFile, repoRoot } from './paths.ts'
import { redactor } from './redact.ts'
import { encryptYaml, recipientsOf } from './sops.ts'
import { toolsPath } from './tools.ts'

/**
 * Secrets as code (seed 001 on the two-key design of seed 000):
 *  - generate: `.env` lines become SOPS-encrypted Secrets of the environments' overlays;
 *  - edit: an environment's bootstrap secrets file in sops' editor;
 *  - rotate: every SOPS file re-encrypted (`sops updatekeys`) for the recipients .sops.yaml asks for;
 *  - check: nothing secret in clear text, every file encrypted as .sops.yaml says, no private key.
 * Secret values travel only through stdin/stdout pipes to sops and are registered with the
 * redactor as soon as they are read; messages name files, lines and keys, never values.
 */
export interface SecretsDeps {
  run: Run
  env: NodeJS.ProcessEnv
}

export interface SecretsOptions {
  /** The checkout to work on (tests pass a temporary copy). */
  root?: string
  deps?: SecretsDeps
}

const defaultDeps: SecretsDeps = { run: defaultRun, env: process.env }

export const DEFAULT_NAMESPACE = 'kube-system'
export const CORE = 'core'
const ENCRYPTED_REGEX = '^(data|stringData)$'
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const SOPS_TIMEOUT_MS = 60_000

// ---------------------------------------------------------------------------------------------
// .env

export interface DotenvEntry {
  key: string
  value: string
  /** 1-based line number in the source. */
  line: number
}

/**
 * `KEY=value` lines (an optional `export ` before the key), blank lines and `#` comments.
 * Values: `"double"` (with \n \t \" \\ escapes), `'single'` (literal), or bare (trimmed, a ` #`
 * starts a comment). Every bad line is named in one error; no value is ever quoted in it.
 */
export function parseDotenv(text: string, source = '.env'): DotenvEntry[] {
  const { entries, problems } = readDotenv(text)
  if (problems.length > 0) throw inputError(source, problems)
  return entries
}

/** A problem with one input line: said with its line number, never with its value. */
export interface LineProblem {
  line: number
  message: string
}

/** parseDotenv without the throw: the good entries and every bad line, for one report of both. */
export function readDotenv(text: string): { entries: DotenvEntry[]; problems: LineProblem[] } {
  const entries: DotenvEntry[] = []
  const problems: LineProblem[] = []
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = index + 1
    if (!raw.trim() || raw.trim().startsWith('#')) continue
    const match = /^\s*(?:export\s+)?([A-Za-z0-9_]+)\s*=(.*)$/.exec(raw)
    if (!match) {
      // The line may be a pasted value: register it and say only where it is.
      redactor.add(raw.trim())
      problems.push({ line, message: `line ${line} is not KEY=value (KEY: letters, digits and _)` })
      continue
    }
    const key = match[1] as string
    const value = parseValue((match[2] as string).trim())
    if (value === undefined) {
      redactor.add((match[2] as string).trim())
      problems.push({
        line,
        message: `line ${line} (${key}) is not KEY=value: its quoted value is not closed on that line`,
      })
      continue
    }
    redactor.add(value)
    entries.push({ key, value, line })
  }
  return { entries, problems }
}

function parseValue(rest: string): string | undefined {
  const quote = rest[0]
  if (quote === '"' || quote === "'") {
    let out = ''
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i] as string
      if (c === quote) {
        const after = rest.slice(i + 1).trim()
        return after === '' || after.startsWith('#') ? out : undefined
      }
      if (quote === '"' && c === '\\' && i + 1 < rest.length) {
        const next = rest[++i] as string
        out += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : next
        continue
      }
      out += c
    }
    return undefined
  }
  const comment = rest.search(/\s#/)
  return (comment >= 0 ? rest.slice(0, comment) : rest).trim()
}

function inputError(source: string, found: LineProblem[]): BootstrapError {
  const problems = [...found].sort((a, b) => a.line - b.line).map((problem) => problem.message)
  return new BootstrapError(
    problems.length === 1
      ? `${source}: ${problems[0]}; nothing was written`
      : `${source}: ${problems.length} problems, nothing was written:\n    ${problems.join('\n    ')}`,
    {
      hint: 'each line is KEY=value (UPPER_CASE key, an optional DEV_/STAGING_/PROD_… prefix); fix the lines named and run again',
      exitCode: 2,
    },
  )
}

/** `UPPER_CASE` → `lowercase-hyphen`: `HETZNER_API_TOKEN` → `hetzner-api-token`. */
export function normaliseName(key: string): string {
  return key.toLowerCase().replace(/_/g, '-')
}

export function isValidSecretName(name: string): boolean {
  return name.length <= 253 && K8S_NAME.test(name)
}

/** `my-env` → `MY_ENV_`: the prefix of an environment's variables. */
export function envPrefix(envName: string): string {
  return `${envName.toUpperCase().replace(/-/g, '_')}_`
}

export interface PlannedSecret {
  /** An environment name, or `core`. */
  target: string
  name: string
  key: string
  line: number
  value: string
}

export interface SecretPlan {
  secrets: PlannedSecret[]
  skipped: { key: string; line: number; reason: string }[]
}

export interface PlanOptions {
  /** Environments whose prefixed variables go to their own overlay (`dev` → `DEV_`). */
  environments: string[]
  /** Environments whose overlay includes ../core: a name in both would be two Secrets of one id. */
  coreConsumers?: string[]
  /** Namespace of each target's Secrets (default kube-system). */
  namespaces?: Record<string, string>
  source?: string
  /** Problems found earlier (readDotenv), reported with these in one error. */
  problems?: LineProblem[]
}

/**
 * Routes each variable: `<ENV>_…` to that environment (the longest prefix wins), `APP_…` nowhere
 * (application settings, not platform secrets), anything else to core. Every problem is
 * collected and thrown at once, naming lines and keys.
 */
export function planSecrets(entries: DotenvEntry[], options: PlanOptions): SecretPlan {
  const source = options.source ?? '.env'
  const prefixes = options.environments
    .filter((env) => env !== CORE)
    .map((env) => ({ env, prefix: envPrefix(env) }))
    .sort((a, b) => b.prefix.length - a.prefix.length)
  const problems: LineProblem[] = [...(options.problems ?? [])]
  const secrets: PlannedSecret[] = []
  const skipped: SecretPlan['skipped'] = []
  const seen = new Map<string, DotenvEntry>()
  for (const entry of entries) {
    const hit = prefixes.find(({ prefix }) => entry.key.startsWith(prefix))
    if (!hit && entry.key.startsWith('APP_')) {
      skipped.push({ key: entry.key, line: entry.line, reason: 'APP_* variables are application settings' })
      continue
    }
    const target = hit ? hit.env : CORE
    const name = normaliseName(hit ? entry.key.slice(hit.prefix.length) : entry.key)
    if (!isValidSecretName(name)) {
      problems.push({
        line: entry.line,
        message: `line ${entry.line}: ${entry.key} normalises to ${JSON.stringify(name)}, not a valid Kubernetes name (lowercase letters, digits and inner hyphens, at most 253)`,
      })
      continue
    }
    const id = `${target}/${name}`
    const before = seen.get(id)
    if (before) {
      problems.push({
        line: entry.line,
        message: `line ${entry.line}: ${entry.key} normalises to ${name} in ${target}, as ${before.key} on line ${before.line} does`,
      })
      continue
    }
    seen.set(id, entry)
    if (entry.value === '') {
      skipped.push({ key: entry.key, line: entry.line, reason: 'empty value' })
      continue
    }
    secrets.push({ target, name, key: entry.key, line: entry.line, value: entry.value })
  }
  const namespaceOf = (target: string) => options.namespaces?.[target] ?? DEFAULT_NAMESPACE
  for (const secret of secrets) {
    if (secret.target === CORE || !options.coreConsumers?.includes(secret.target)) continue
    const core = secrets.find(
      (other) =>
        other.target === CORE &&
        other.name === secret.name &&
        namespaceOf(CORE) === namespaceOf(secret.target),
    )
    if (core) {
      problems.push({
        line: secret.line,
        message: `line ${secret.line}: ${secret.key} makes Secret ${namespaceOf(CORE)}/${secret.name} in ${secret.target}, which also includes it from core (${core.key}, line ${core.line}): kustomize refuses two Secrets with one name`,
      })
    }
  }
  if (problems.length > 0) throw inputError(source, problems)
  return { secrets, skipped }
}

// ---------------------------------------------------------------------------------------------
// .sops.yaml

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
    doc = parseYaml(readFileSyncUtf8(file))
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

// ---------------------------------------------------------------------------------------------
// generate

export interface GenerateResult {
  /** Paths (relative to the root) encrypted anew, with why. */
  written: { file: string; why: 'new' | 'changed' }[]
  unchanged: string[]
  /** Overlay files (generator, kustomization) whose lists were extended. */
  listed: string[]
  skipped: SecretPlan['skipped']
  warnings: string[]
}

interface TargetInfo {
  target: string
  dir: string
  namespace: string
  recipients: string[]
}

interface FileWork {
  secret: PlannedSecret
  file: string
  rel: string
  target: TargetInfo
  status: 'new' | 'changed' | 'unchanged'
  manifest: Record<string, unknown>
  ciphertext?: string
}

/**
 * `.env` → encrypted Secrets. Everything that can fail is done before the first write: input
 * checked, recipients found, existing files decrypted and compared, new ones encrypted in
 * memory. A file whose decrypted content already matches is not touched (sops' ciphertext
 * changes on every encryption, so re-encrypting would show as a change in git).
 */
export async function generateSecrets(
  envFile: string,
  options: SecretsOptions = {},
): Promise<GenerateResult> {
  const root = options.root ?? repoRoot
  const deps = options.deps ?? defaultDeps
  const source = displayPath(envFile)
  if (!existsSync(envFile)) {
    throw new BootstrapError(`${source} does not exist: no variables to make secrets of`, {
      hint: 'write KEY=value lines to .env (DEV_/STAGING_/PROD_ prefixes pick the environment), or pass --from <file>',
      exitCode: 2,
    })
  }
  const { entries, problems } = readDotenv(await readFile(envFile, 'utf8'))
  const environments = listEnvironments(join(root, 'environments'))
  const sopsConfig = loadSopsConfig(root)
  const sharedEnvs = environments.filter((env) => isShared(sopsConfig, env))
  const namespaces: Record<string, string> = { [CORE]: DEFAULT_NAMESPACE }
  for (const env of environments) namespaces[env] = overlayNamespace(root, env)
  const plan = planSecrets(entries, { environments, coreConsumers: sharedEnvs, namespaces, source, problems })
  const result: GenerateResult = {
    written: [],
    unchanged: [],
    listed: [],
    skipped: plan.skipped,
    warnings: [],
  }

  const targets = new Map<string, TargetInfo>()
  for (const target of new Set(plan.secrets.map((secret) => secret.target))) {
    targets.set(target, {
      target,
      dir: overlayDir(root, target),
      namespace: namespaces[target] ?? DEFAULT_NAMESPACE,
      recipients: await targetRecipients(root, sopsConfig, target),
    })
  }

  const work: FileWork[] = []
  for (const secret of plan.secrets) {
    const target = targets.get(secret.target) as TargetInfo
    const file = join(target.dir, 'secrets', `${secret.name}.secret.yaml`)
    const rel = relativeTo(root, file)
    let status: FileWork['status'] = 'new'
    let existing: Record<string, unknown> | undefined
    if (existsSync(file)) {
      existing = await decryptManifest(file, root, deps, source)
      status = sameSecret(existing, secret.name, target.namespace, secret.value) ? 'unchanged' : 'changed'
      if (status === 'unchanged') {
        const now = await recipientsOf(file).catch(() => [] as string[])
        if (!sameSet(now, target.recipients)) {
          result.warnings.push(
            `${rel} is encrypted to other keys than ${secret.target}'s (${target.recipients.length} expected): run \`just secrets-rotate\``,
          )
        }
      }
    }
    work.push({
      secret,
      file,
      rel,
      target,
      status,
      manifest: secretManifest(secret.name, target.namespace, secret.value, existing),
    })
  }
  for (const item of work) {
    if (item.status === 'unchanged') continue
    item.ciphertext = await encryptManifest(item.manifest, item.file, item.target.recipients, root, deps)
  }

  // Overlay lists: every secret file named by the generator; staging/prod include ../core.
  const edits = new Map<string, string>()
  for (const target of targets.values()) {
    const names = work.filter((item) => item.target === target).map((item) => item.secret.name)
    for (const [file, text] of overlayListEdits(target.dir, target.target, names)) edits.set(file, text)
  }
  const coreListed = existsSync(join(overlayDir(root, CORE), 'secret-generator.yaml')) || targets.has(CORE)
  if (coreListed) {
    for (const env of sharedEnvs) {
      const file = join(overlayDir(root, env), 'kustomization.yaml')
      const current = edits.get(file) ?? (existsSync(file) ? readFileSyncUtf8(file) : undefined)
      const edited = current === undefined ? undefined : includeCore(current)
      if (edited !== undefined) edits.set(file, edited)
    }
  }

  for (const item of work) {
    if (item.status === 'unchanged') {
      result.unchanged.push(item.rel)
      continue
    }
    await writeAtomic(item.file, item.ciphertext as string)
    result.written.push({ file: item.rel, why: item.status })
  }
  for (const [file, text] of edits) {
    await writeAtomic(file, text)
    result.listed.push(relativeTo(root, file))
  }
  return result
}

function overlayDir(root: string, target: string): string {
  return join(root, 'gitops', 'overlays', target)
}

/** Whether an environment's overlay secrets have committed recipients in .sops.yaml (not per machine). */
function isShared(config: SopsConfig, env: string): boolean {
  return (ruleFor(config, `gitops/overlays/${env}/secrets/probe.secret.yaml`)?.recipients.length ?? 0) > 0
}

/** `secrets.namespace` of an environment's config (optional; the runbook's own schema does not read it). */
function overlayNamespace(root: string, env: string): string {
  const file = join(root, 'environments', env, 'config.yaml')
  let doc: unknown
  try {
    doc = parseYaml(readFileSyncUtf8(file))
  } catch {
    return DEFAULT_NAMESPACE // loadConfig reports a broken config where it matters
  }
  const value = (doc as { secrets?: { namespace?: unknown } } | null)?.secrets?.namespace
  if (value === undefined) return DEFAULT_NAMESPACE
  if (typeof value !== 'string' || !DNS_LABEL.test(value)) {
    throw new BootstrapError(
      `${relativeTo(root, file)}: field "secrets.namespace" must be a namespace name (lowercase DNS label), got ${JSON.stringify(value)}`,
      { exitCode: 2 },
    )
  }
  return value
}

/**
 * Who a target's secrets are encrypted to: the recipients .sops.yaml names for its overlay, or,
 * for a per-machine environment (dev, local: no keys in .sops.yaml), those of its bootstrap
 * secrets file, which its first `just create` makes.
 */
async function targetRecipients(root: string, config: SopsConfig, target: string): Promise<string[]> {
  const rel = `gitops/overlays/${target}/secrets/probe.secret.yaml`
  const rule = ruleFor(config, rel)
  if (rule && rule.recipients.length > 0) return rule.recipients
  if (target === CORE) {
    throw new BootstrapError(
      `.sops.yaml names no age recipients for gitops/overlays/core/: core secrets cannot be encrypted`,
      {
        hint: 'add a creation rule for ^gitops/overlays/core/ with the team key and every shared cluster key',
      },
    )
  }
  const config_ = loadConfig(target, join(root, 'environments'))
  const file = resolveEnvFile(root, config_.secrets.sopsFile)
  if (!existsSync(file)) {
    throw new BootstrapError(
      `${target} is per machine (no keys in .sops.yaml) and its bootstrap secrets file ${displayPath(file, root)} does not exist yet: there are no keys to encrypt ${target}'s secrets to; nothing was written`,
      { hint: `run \`just create ${target}\` once first: it makes this machine's keys and that file` },
    )
  }
  const recipients = await recipientsOf(file)
  if (recipients.length === 0)
    throw new BootstrapError(`${displayPath(file, root)} is encrypted to no age recipient`)
  return recipients
}

function resolveEnvFile(root: string, file: string): string {
  return file.startsWith('~/') || isAbsolute(file) ? envPath(file) : join(root, file)
}

/** The Secret one variable becomes; labels and annotations added by hand to an existing one are kept. */
function secretManifest(
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
function sameSecret(doc: Record<string, unknown>, name: string, namespace: string, value: string): boolean {
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

function sopsEnv(deps: SecretsDeps): NodeJS.ProcessEnv {
  return { ...deps.env, SOPS_AGE_KEY_FILE: personalAgeKeyFile(deps.env) }
}

async function decryptManifest(
  file: string,
  root: string,
  deps: SecretsDeps,
  source: string,
): Promise<Record<string, unknown>> {
  const rel = relativeTo(root, file)
  let stdout: string
  try {
    ;({ stdout } = await deps.run(
      'sops',
      ['--decrypt', '--input-type', 'yaml', '--output-type', 'json', file],
      {
        cwd: root,
        env: sopsEnv(deps),
        timeoutMs: SOPS_TIMEOUT_MS,
      },
    ))
  } catch (error) {
    throw sopsFailure(error, `cannot decrypt ${rel} to compare it with ${source}; nothing was written`, file)
  }
  let doc: unknown
  try {
    doc = JSON.parse(stdout)
  } catch {
    throw new BootstrapError(`sops decrypted ${rel} but its output is not JSON`)
  }
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

async function encryptManifest(
  manifest: Record<string, unknown>,
  file: string,
  recipients: string[],
  root: string,
  deps: SecretsDeps,
): Promise<string> {
  const rel = relativeTo(root, file)
  let stdout: string
  try {
    stdout = await encryptYaml(
      stringify(manifest),
      { file, recipients, outputType: 'yaml', encryptedRegex: ENCRYPTED_REGEX, cwd: root },
      { run: deps.run, env: deps.env },
    )
  } catch (error) {
    throw sopsFailure(error, `sops could not encrypt ${rel}; nothing was written`, file)
  }
  const doc = parseYaml(stdout) as { stringData?: { value?: unknown }; sops?: { mac?: unknown } } | null
  if (
    typeof doc?.stringData?.value !== 'string' ||
    !doc.stringData.value.startsWith('ENC[') ||
    !doc.sops?.mac
  ) {
    throw new BootstrapError(
      `sops left ${rel}'s value unencrypted: refusing to write it; nothing was written`,
    )
  }
  return stdout
}

function sopsFailure(error: unknown, message: string, file: string): Error {
  if (error instanceof BootstrapError && error.exitCode === 127) return error
  if (error instanceof ProcessError) {
    const decryptHint = /Failed to get the data key|no identity matched|0 successful groups/i.test(
      error.stderr,
    )
    return new BootstrapError(`${message}: ${lastLines(error.stderr, 1) || error.message}`, {
      hint: decryptHint
        ? `no age key you hold decrypts ${basename(file)}: point SOPS_AGE_KEY_FILE at the key of one of its recipients`
        : 'check .sops.yaml and the file; never edit the ciphertext by hand (use `sops <file>`)',
      cause: error,
    })
  }
  return error instanceof Error ? error : new Error(String(error))
}

const GENERATOR_HEADER = (target: string) =>
  target === CORE
    ? `# KSOPS generator of the core secrets, shared by the overlays that include ../core (staging, prod).
# Written by \`just secrets-generate\` from .env variables without an environment prefix; each file
# holds one SOPS-encrypted Secret. Legacy exec plugin form (no config.kubernetes.io/function
# annotation), as in the environment overlays.
`
    : `# KSOPS generator of the ${target} overlay's secrets, written by \`just secrets-generate\`. Legacy exec
# plugin form (no config.kubernetes.io/function annotation), as in the other overlays.
`

const KUSTOMIZATION_HEADER = (target: string) =>
  target === CORE
    ? `# Core secrets (seed 001): Secrets every shared environment needs, SOPS-encrypted to the team key and
# the staging and prod cluster keys (.sops.yaml), decrypted at render time by KSOPS. Included by the
# staging and prod overlays (resources: ../core). dev and local do not include it: their cluster
# keys are per machine and cannot decrypt these files; give them DEV_/LOCAL_ variables instead.
`
    : `# The ${target} environment's cluster secrets (seed 001): SOPS-encrypted Secrets under ./secrets,
# decrypted at render time by KSOPS. Written by \`just secrets-generate\`.
`

/**
 * The generator (and, for a new overlay, its kustomization) with every given secret file listed.
 * Only `files` is extended, in place; nothing else in the file changes. Returns the files to write.
 */
function overlayListEdits(dir: string, target: string, names: string[]): [string, string][] {
  const edits: [string, string][] = []
  const generatorFile = join(dir, 'secret-generator.yaml')
  const kustomizationFile = join(dir, 'kustomization.yaml')
  const wanted = [...new Set(names)].sort().map((name) => `./secrets/${name}.secret.yaml`)
  if (!existsSync(kustomizationFile)) {
    edits.push([
      kustomizationFile,
      `${KUSTOMIZATION_HEADER(target)}${stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        generators: ['secret-generator.yaml'],
      })}`,
    ])
  }
  if (!existsSync(generatorFile)) {
    edits.push([
      generatorFile,
      `${GENERATOR_HEADER(target)}${stringify({
        apiVersion: 'viaduct.ai/v1',
        kind: 'ksops',
        metadata: { name: target === CORE ? 'core-secrets' : 'cluster-secrets' },
        files: wanted,
      })}`,
    ])
    return edits
  }
  const text = readFileSyncUtf8(generatorFile)
  const doc = parseDocument(text)
  let files = doc.get('files')
  if (!isSeq(files)) {
    doc.set('files', doc.createNode([]))
    files = doc.get('files')
  }
  if (!isSeq(files)) throw new BootstrapError(`${generatorFile}: files is not a list`)
  const listed = new Set(files.items.map((item) => String((item as { value?: unknown }).value ?? item)))
  let added = false
  for (const file of wanted) {
    if (listed.has(file)) continue
    files.add(doc.createNode(file))
    added = true
  }
  if (added) edits.push([generatorFile, doc.toString()])
  return edits
}

/** A shared environment's kustomization with `../core` in its resources, or nothing when it is there. */
function includeCore(text: string): string | undefined {
  const doc = parseDocument(text)
  const resources = doc.get('resources')
  if (isSeq(resources)) {
    const items = resources.items.map((item) => String((item as { value?: unknown }).value ?? item))
    if (items.some((item) => item.replace(/\/$/, '') === '../core')) return undefined
    resources.add(doc.createNode('../core'))
  } else {
    doc.set('resources', doc.createNode(['../core']))
  }
  return doc.toString()
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(temp, text, { mode: 0o644 })
    await rename(temp, file)
  } finally {
    await rm(temp, { force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// edit

/**
 * `sops <file>` on an environment's bootstrap secrets file, with the terminal handed over (the
 * editor is interactive). A file that does not exist yet is created by sops with the keys of its
 * .sops.yaml rule; per-machine environments have none there, so their first `just create` makes it.
 */
export async function editSecrets(
  envName: string,
  options: SecretsOptions = {},
): Promise<'changed' | 'unchanged' | 'created'> {
  const root = options.root ?? repoRoot
  const deps = options.deps ?? defaultDeps
  const config = loadConfig(envName, join(root, 'environments'))
  const file = resolveEnvFile(root, config.secrets.sopsFile)
  const shown = displayPath(file, root)
  const existed = existsSync(file)
  if (!existed) {
    const rule = ruleFor(loadSopsConfig(root), relativeTo(root, file))
    if (!rule || rule.recipients.length === 0) {
      throw new BootstrapError(
        `${shown} does not exist yet and .sops.yaml names no keys for it (${envName} is per machine)`,
        { hint: `run \`just create ${envName}\` once first: it makes this machine's keys and that file` },
      )
    }
  }
  const result = await execa('sops', [file], {
    cwd: root,
    env: { ...sopsEnv(deps), PATH: toolsPath(deps.env.PATH ?? process.env.PATH, deps.env) },
    extendEnv: false,
    stdio: 'inherit',
    reject: false,
  })
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new BootstrapError('sops was not found on PATH or in the tools cache', {
      hint: 'run `just tools` to install every pinned tool, or `just doctor` to see what is missing',
      exitCode: 127,
    })
  }
  // sops exits 200 when the editor closed without a change.
  if (result.exitCode === 200) return 'unchanged'
  if (result.exitCode !== 0) {
    throw new BootstrapError(`sops exited ${result.exitCode} editing ${shown} (its message is above)`, {
      hint: existed
        ? 'a decryption error means no key you hold decrypts it: point SOPS_AGE_KEY_FILE at the key of one of its recipients'
        : 'check the .sops.yaml rule for this path',
    })
  }
  return existed ? 'changed' : 'created'
}

// ---------------------------------------------------------------------------------------------
// files of the repository

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

// ---------------------------------------------------------------------------------------------
// check

export interface Finding {
  file: string
  line?: number
  problem: string
}

const SECRET_FILE_NAME =
  /(^|\/)(secrets?\.(ya?ml|json|env)|[^/]+\.(secret|secrets)\.(ya?ml|json)|[^/]+\.(sops|enc)\.(ya?ml|json|env))$/
const DOTENV_NAME = /(^|\/)\.env(\.(?!example$|sample$|template$)[^/]+)?$/

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

/** The age recipients of a SOPS file's metadata (every document, every key group). */
export function recipientsIn(text: string, rel: string): string[] {
  if (/\.env$/.test(rel)) {
    return [
      ...new Set(
        text
          .split('\n')
          .map((line) => /^sops_age__list_\d+__map_recipient=(.*)$/.exec(line.trim())?.[1])
          .filter((value): value is string => Boolean(value)),
      ),
    ]
  }
  const found = new Set<string>()
  const collect = (list: unknown) => {
    if (!Array.isArray(list)) return
    for (const entry of list) {
      const recipient = (entry as { recipient?: unknown } | null)?.recipient
      if (typeof recipient === 'string') found.add(recipient)
    }
  }
  for (const doc of parseAllDocuments(text)) {
    const meta = (doc.toJS() as { sops?: { age?: unknown; key_groups?: unknown } } | null)?.sops
    if (!meta) continue
    collect(meta.age)
    if (Array.isArray(meta.key_groups))
      for (const group of meta.key_groups) collect((group as { age?: unknown } | null)?.age)
  }
  return [...found]
}

// ---------------------------------------------------------------------------------------------
// private keys

export interface KeyHit {
  line: number
  kind: string
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const AGE_IDENTITY = /AGE-SECRET-KEY-(?:PQ-)?1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58,}/g
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----/
const PEM_ESCAPED =
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\r)?\\n((?:[A-Za-z0-9+/=]+(?:\\r)?\\n)+)-----END /

/**
 * Private keys in a text: age identities whose bech32 checksum holds (so a made-up placeholder
 * is not one), and PEM private key blocks with a real base64 body, as a key file has it or as a
 * JSON string with \n escapes. Hits carry a line number and a kind, never the key.
 */
export function findPrivateKeys(text: string): KeyHit[] {
  if (!text.includes('AGE-SECRET-KEY-') && !text.includes('PRIVATE KEY')) return []
  const hits: KeyHit[] = []
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    for (const match of line.matchAll(AGE_IDENTITY)) {
      if (bech32Valid(match[0])) {
        hits.push({ line: index + 1, kind: 'holds an age private key (AGE-SECRET-KEY-1…)' })
        break
      }
    }
    const begin = PEM_BEGIN.exec(line)
    if (!begin) continue
    const escaped = PEM_ESCAPED.exec(line)
    if (escaped && (escaped[1] ?? '').replace(/\\[rn]/g, '').length >= 64) {
      hits.push({ line: index + 1, kind: `holds a PEM ${begin[1] ?? ''}private key` })
      continue
    }
    if (pemBodyFollows(lines, index + 1))
      hits.push({ line: index + 1, kind: `holds a PEM ${begin[1] ?? ''}private key` })
  }
  return hits
}

/** Whether the lines after a BEGIN line are a key's body: base64 (and PEM headers) up to an END line. */
function pemBodyFollows(lines: string[], from: number): boolean {
  let base64 = 0
  for (let i = from; i < Math.min(lines.length, from + 400); i++) {
    const line = (lines[i] ?? '').trim()
    if (/^-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----$/.test(line)) return base64 >= 64
    if (line === '' || /^[A-Za-z-]+: /.test(line)) continue
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line) && !/^=[A-Za-z0-9+/]{4}$/.test(line)) return false
    base64 += line.length
  }
  return false
}

function bech32Valid(text: string): boolean {
  const lower = text.toLowerCase()
  const at = lower.lastIndexOf('1')
  if (at < 1) return false
  const hrp = lower.slice(0, at)
  const data: number[] = []
  for (const c of lower.slice(at + 1)) {
    const v = BECH32.indexOf(c)
    if (v < 0) return false
    data.push(v)
  }
  const values = [
    ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
    0,
    ...[...hrp].map((c) => c.charCodeAt(0) & 31),
    ...data,
  ]
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
  let chk = 1
  for (const v of values) {
    const top = chk >>> 25
    chk = ((chk & 0x1ffffff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i] as number
  }
  chk >>>= 0
  return chk === 1 || chk === 0x2bc830a3
}

// ---------------------------------------------------------------------------------------------
// rotate

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
      await deps.run('sops', ['updatekeys', '--yes', rel], {
        cwd: root,
        env: sopsEnv(deps),
        timeoutMs: SOPS_TIMEOUT_MS,
      })
    } catch (error) {
      const reason =
        error instanceof ProcessError
          ? /Failed to get the data key|no identity matched|0 successful groups/i.test(error.stderr)
            ? `no age key you hold decrypts it (it is encrypted to ${before.join(', ')}; key file ${personalAgeKeyFile(deps.env)})`
            : lastLines(error.stderr, 1) || error.message
          : errorMessage(error)
      result.failed.push({ file: rel, reason })
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

// ---------------------------------------------------------------------------------------------
// helpers

function sameSet(a: string[], b: string[]): boolean {
  const left = new Set(a)
  const right = new Set(b)
  return left.size === right.size && [...left].every((item) => right.has(item))
}

function readFileSyncUtf8(file: string): string {
  return readFileSync(file, 'utf8')
}

/** A text file's content, or undefined for a binary or unreadable one. */
async function readText(file: string): Promise<string | undefined> {
  try {
    const buffer = await readFile(file)
    if (buffer.length > 20 * 1024 * 1024 || buffer.includes(0)) return undefined
    return buffer.toString('utf8')
  } catch {
    return undefined
  }
}

function relativeTo(root: string, file: string): string {
  return relative(root, file).split(sep).join('/')
}

function displayPath(file: string, root = process.cwd()): string {
  const rel = relative(root, file)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : file
}

/** Entry point of a secrets script: runs `body`, prints a failure with its hint, exits with its code. */
export async function runScript(body: (log: Logger) => Promise<number>): Promise<never> {
  const log = new Logger()
  let code: number
  try {
    code = await body(log)
  } catch (error) {
    log.error(errorMessage(error))
    if (error instanceof BootstrapError) {
      if (error.hint) log.error(`how to fix: ${error.hint}`)
      code = error.exitCode
    } else {
      log.error('this is a bug in platform-bootstrap, not in your input; the stack follows')
      log.error(String((error as Error)?.stack ?? error))
      code = 1
    }
  }
  process.exit(code)
}
