import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-file.ts'
import { BootstrapError } from '../core/errors.ts'
import { repoRoot } from '../core/paths.ts'
import { listEnvironments, loadConfig } from '../runner/config.ts'
import { recipientsOf } from '../sops/index.ts'
import {
  defaultDeps,
  displayPath,
  relativeTo,
  resolveEnvFile,
  type SecretsOptions,
  sameSet,
} from './common.ts'
import { readDotenv } from './dotenv.ts'
import { includeCore, isShared, overlayDir, overlayListEdits, overlayNamespace } from './overlays.ts'
import { CORE, DEFAULT_NAMESPACE, type PlannedSecret, planSecrets, type SecretPlan } from './plan.ts'
import { decryptSecret, encryptSecret, sameSecret, secretManifest } from './secret-file.ts'
import { loadSopsConfig, ruleFor, type SopsConfig } from './sops-rules.ts'

/**
 * `just secrets-generate`: `.env` variables planned to overlays (plan.ts), then written as
 * SOPS-encrypted Secrets (secret-file.ts) listed by the overlays' generators (overlays.ts).
 */

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
      existing = await decryptSecret(file, root, deps).catch((error) => {
        throw nothingWritten(error, `cannot compare it with ${source}`)
      })
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
    item.ciphertext = await encryptSecret(item.manifest, item.file, item.target.recipients, root, deps).catch(
      (error) => {
        throw nothingWritten(error)
      },
    )
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
    await writeFileAtomic(item.file, item.ciphertext as string, 0o644)
    result.written.push({ file: item.rel, why: item.status })
  }
  for (const [file, text] of edits) {
    await writeFileAtomic(file, text, 0o644)
    result.listed.push(relativeTo(root, file))
  }
  return result
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

/** A failure before the first write, said as one: with what it stopped, and that nothing was written. */
function nothingWritten(error: unknown, context?: string): unknown {
  if (!(error instanceof BootstrapError)) return error
  return new BootstrapError(`${error.message}; ${context ? `${context}, ` : ''}nothing was written`, {
    hint: error.hint,
    exitCode: error.exitCode,
    cause: error,
  })
}
