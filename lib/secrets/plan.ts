import {
  type DotenvEntry,
  envPrefix,
  inputError,
  isValidSecretName,
  type LineProblem,
  normaliseName,
} from './dotenv.ts'

/** Which overlay each `.env` variable goes to, as which Secret: decided before anything is read or written. */

/** The namespace the overlays' Application (cluster-secrets) deploys into: where its Secrets belong. */
export const DEFAULT_NAMESPACE = 'platform-system'
/** The overlay of Secrets every shared environment includes (../core). */
export const CORE = 'core'

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
  /** Namespace of each target's Secrets (default platform-system). */
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
