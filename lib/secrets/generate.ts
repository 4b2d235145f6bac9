import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { isSeq, parseDocument, parse as parseYaml, stringify } from 'yaml'
import { listEnvironments, loadConfig } from '../config.ts'
import { BootstrapError, lastLines, ProcessError } from '../errors.ts'
import { repoRoot } from '../paths.ts'
import { redactor } from '../redact.ts'
import { encryptYaml, recipientsOf } from '../sops.ts'
import {
  defaultDeps,
  displayPath,
  relativeTo,
  resolveEnvFile,
  type SecretsDeps,
  type SecretsOptions,
  SOPS_TIMEOUT_MS,
  sameSet,
  sopsEnv,
} from './common.ts'
import {
  type DotenvEntry,
  envPrefix,
  inputError,
  isValidSecretName,
  type LineProblem,
  normaliseName,
  readDotenv,
} from './dotenv.ts'
import { loadSopsConfig, ruleFor, type SopsConfig } from './sops-rules.ts'

/** `just secrets-generate`: `.env` variables planned to overlays, then written as SOPS-encrypted Secrets. */

export const DEFAULT_NAMESPACE = 'kube-system'
export const CORE = 'core'
const ENCRYPTED_REGEX = '^(data|stringData)$'
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

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
      const current = edits.get(file) ?? (existsSync(file) ? readFileSync(file, 'utf8') : undefined)
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
    doc = parseYaml(readFileSync(file, 'utf8'))
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
    ? `# Core secrets: Secrets every shared environment needs, SOPS-encrypted to the team key and
# the staging and prod cluster keys (.sops.yaml), decrypted at render time by KSOPS. Included by the
# staging and prod overlays (resources: ../core). dev and local do not include it: their cluster
# keys are per machine and cannot decrypt these files; give them DEV_/LOCAL_ variables instead.
`
    : `# The ${target} environment's cluster secrets: SOPS-encrypted Secrets under ./secrets,
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
  const text = readFileSync(generatorFile, 'utf8')
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
