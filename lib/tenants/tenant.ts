import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generatedToken } from '../bootstrap-secrets/first-run.ts'
import { writeFileAtomic } from '../core/atomic-file.ts'
import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'
import { DNS_LABEL, type EnvConfig, envPath, listEnvironments, loadConfig } from '../runner/config.ts'
import { displayPath } from '../secrets/common.ts'
import { decrypt, recipientsOf, writeEncrypted } from '../sops/index.ts'
import { addMapEntry, addSeqItem, removeMapEntry, removeSeqItem } from './config-text.ts'
import { tenantFiles, tenantPaths } from './manifests.ts'

/**
 * `just tenant add` / `just tenant remove`: a tenant's files in the platform repository, its
 * repository in each environment's config (`gitops.tenantRepos`) and its credential field in each
 * environment's SOPS file. Everything is read and checked first, then written: a refusal writes
 * nothing. What is there already as it would be written counts as done, so a run that stopped
 * half-way is finished by running it again; what is there and differs is refused, naming it.
 */

export interface TenantDeps {
  /** The checkout's root (its environments/ and gitops/ folders). */
  root: string
  /** The credential for the tenant's repository: asked for, or read from stdin; undefined when none is given. */
  token(): Promise<string | undefined>
  say(line: string): void
}

export interface AddRequest {
  name: string
  repoURL: string
  /** Environments to register the repository in (default: all). */
  envs?: string[]
  /** The user name for the repository (default: each environment's platformRepo.username). */
  username?: string
  dryRun?: boolean
}

/** Namespaces a tenant may not be named after: Kubernetes' own and the platform's (each environment's `namespaces`). */
const RESERVED = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

export async function addTenant(request: AddRequest, deps: TenantDeps): Promise<void> {
  const { name, repoURL } = request
  checkName(name)
  checkRepoURL(repoURL)
  const configs = environments(deps.root, request.envs)
  for (const env of configs) {
    const taken = [...env.namespaces, env.argocd.namespace, env.openbao.namespace]
    if (taken.includes(name))
      throw refusal(`tenant ${name}: environment ${env.name} uses namespace ${name} for the platform`)
  }
  const field = credentialField(name)

  const files = tenantFiles(name, repoURL).map((file) => ({ ...file, at: join(deps.root, file.path) }))
  const fileChanges = await Promise.all(
    files.map(async (file) => {
      if (!existsSync(file.at)) return { ...file, action: 'created' as const }
      const same = (await readFile(file.at, 'utf8')) === file.text
      return { ...file, action: same ? ('unchanged' as const) : ('conflict' as const) }
    }),
  )
  const conflict = fileChanges.find((file) => file.action === 'conflict')
  if (conflict)
    throw refusal(
      `tenant ${name} exists already: ${conflict.path} is there and differs from what tenant add writes`,
      `pick another name, or \`just tenant remove ${name}\` first`,
    )

  const envChanges = await Promise.all(
    configs.map(async (env) => {
      const entry = {
        url: repoURL,
        username: request.username ?? env.gitops.platformRepo.username,
        passwordField: field,
      }
      const current = env.gitops.tenantRepos[name]
      if (current && JSON.stringify(current) !== JSON.stringify(entry))
        throw refusal(
          `tenant ${name} exists already in ${displayPath(env.file, deps.root)}: gitops.tenantRepos.${name} is ${current.url}`,
          `pick another name, or \`just tenant remove ${name}\` first`,
        )
      const sopsFile = envPath(env, env.secrets.sopsFile)
      // Decrypted now, so a file this person cannot decrypt stops the run before anything is written.
      const secrets = existsSync(sopsFile) ? await decrypt(sopsFile) : undefined
      return { env, entry, configChanged: !current || !env.secrets.fields.includes(field), sopsFile, secrets }
    }),
  )

  // The value, once, for every environment whose SOPS file lacks the field.
  const needValue = envChanges.filter((change) => change.secrets && !(field in change.secrets))
  let given: string | undefined
  if (needValue.length > 0 && !request.dryRun) given = await deps.token()
  if (given) redactor.add(given)
  for (const change of needValue)
    if (!given && !change.env.gitops.serveCheckout)
      throw refusal(
        `environment ${change.env.name} pulls ${repoURL} itself: ${field} must be the repository's real credential`,
        `give it at the prompt, or on stdin with --token-stdin (never as an argument: it would be in your shell history)`,
      )

  const verb = request.dryRun ? 'would be ' : ''
  for (const file of fileChanges) {
    if (file.action === 'created' && !request.dryRun) await writeFileAtomic(file.at, file.text, 0o644)
    deps.say(`${file.path}: ${file.action === 'created' ? `${verb}created` : 'unchanged'}`)
  }
  for (const change of envChanges) {
    const config = displayPath(change.env.file, deps.root)
    if (change.configChanged) {
      if (!request.dryRun)
        await editConfig(change.env.file, (text, file) => {
          let out = change.env.gitops.tenantRepos[name]
            ? text
            : addMapEntry(text, file, ['gitops', 'tenantRepos'], name, change.entry)
          if (!change.env.secrets.fields.includes(field))
            out = addSeqItem(out, file, ['secrets', 'fields'], field)
          return out
        })
      deps.say(`${config}: gitops.tenantRepos.${name} (${repoURL}) and secrets.fields ${field} ${verb}added`)
    } else deps.say(`${config}: gitops.tenantRepos.${name}: unchanged`)
    const sops = displayPath(change.sopsFile, deps.root)
    if (!change.secrets) {
      deps.say(
        change.env.generateMissingSecrets
          ? `${sops}: not made yet; the next \`just create ${change.env.name}\` generates ${field} with the rest`
          : `${sops}: not there; put ${field} in it (\`just secrets-edit ${change.env.name}\`)${change.env.secrets.vault ? ' or in Vault' : ''} before the next create`,
      )
      continue
    }
    if (field in change.secrets) {
      deps.say(`${sops}: ${field} kept (there already)`)
      continue
    }
    const value = given ?? generatedToken()
    if (!request.dryRun)
      await writeEncrypted(
        change.sopsFile,
        { ...change.secrets, [field]: value },
        await recipientsOf(change.sopsFile),
      )
    deps.say(
      `${sops}: ${field} ${verb}set (${given ? 'the credential given' : 'generated: the checkout is served, no git server checks it'}; encrypted)`,
    )
  }
}

export interface RemoveRequest {
  name: string
  envs?: string[]
  dryRun?: boolean
}

/**
 * Takes away what `addTenant` wrote. The tenant's namespace and workloads are Argo CD's to delete:
 * its Application and AppProject leave the platform repository, and prune removes them on sync.
 */
export async function removeTenant(request: RemoveRequest, deps: TenantDeps): Promise<void> {
  const { name } = request
  checkName(name)
  const configs = environments(deps.root, request.envs)
  const paths = tenantPaths(name).filter((path) => existsSync(join(deps.root, path)))
  const registered = configs.filter((env) => env.gitops.tenantRepos[name])
  if (paths.length === 0 && registered.length === 0)
    throw refusal(
      `no tenant ${name}: nothing of it in gitops/ nor in ${configs.map((env) => env.name).join(', ')}'s config`,
      undefined,
      1,
    )

  const envChanges = await Promise.all(
    registered.map(async (env) => {
      const field = env.gitops.tenantRepos[name]?.passwordField ?? ''
      const stillUsed = [
        env.gitops.platformRepo,
        ...Object.entries(env.gitops.tenantRepos)
          .filter(([tenant]) => tenant !== name)
          .map(([, repo]) => repo),
      ].some((repo) => repo.passwordField === field)
      const sopsFile = envPath(env, env.secrets.sopsFile)
      const secrets = !stillUsed && existsSync(sopsFile) ? await decrypt(sopsFile) : undefined
      return { env, field, stillUsed, sopsFile, secrets }
    }),
  )

  const verb = request.dryRun ? 'would be ' : ''
  for (const change of envChanges) {
    if (!request.dryRun)
      await editConfig(change.env.file, (text, file) => {
        const out = removeMapEntry(text, file, ['gitops', 'tenantRepos'], name)
        return change.stillUsed ? out : removeSeqItem(out, file, ['secrets', 'fields'], change.field)
      })
    deps.say(
      `${displayPath(change.env.file, deps.root)}: gitops.tenantRepos.${name}${change.stillUsed ? '' : ` and secrets.fields ${change.field}`} ${verb}removed`,
    )
    if (change.secrets && change.field in change.secrets) {
      const { [change.field]: _gone, ...rest } = change.secrets
      if (!request.dryRun) await writeEncrypted(change.sopsFile, rest, await recipientsOf(change.sopsFile))
      deps.say(`${displayPath(change.sopsFile, deps.root)}: ${change.field} ${verb}removed`)
    }
  }
  for (const path of paths) {
    if (!request.dryRun) await rm(join(deps.root, path), { recursive: true, force: true })
    deps.say(`${path}: ${verb}removed`)
  }
  deps.say(
    `Argo CD deletes namespace ${name} and what the tenant deployed once the platform repository without it is synced${request.dryRun ? '' : ' (commit and push; dev and local serve the checkout: `just create <env>`)'}`,
  )
}

/** The SOPS field holding a tenant's repository credential. */
export function credentialField(name: string): string {
  return `git_token_${name.replaceAll('-', '_')}`
}

function checkName(name: string): void {
  if (!DNS_LABEL.test(name))
    throw refusal(
      `"${name}" cannot name a tenant: it names its namespace, so it must be a DNS label (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)`,
    )
  if (RESERVED.includes(name) || name.startsWith('kube-'))
    throw refusal(`"${name}" cannot name a tenant: Kubernetes uses that namespace`)
}

function checkRepoURL(url: string): void {
  const ssh = /^[\w.-]+@[\w.-]+:[\w./~-]+$/.test(url)
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  const ok = ssh || (parsed && ['https:', 'http:', 'ssh:', 'git:', 'file:'].includes(parsed.protocol))
  if (!ok)
    throw refusal(`--repo ${url} is not a git repository URL`, 'an https:// or ssh:// URL, or user@host:path')
  if (parsed?.username || parsed?.password)
    throw refusal(
      '--repo carries a credential in its URL: it would be written to the platform repository',
      'give the URL without it; the credential goes to the SOPS file (at the prompt, or --token-stdin)',
    )
}

/** The environments asked for (default: all), each config loaded from the checkout. */
function environments(root: string, asked: string[] | undefined): EnvConfig[] {
  const dir = join(root, 'environments')
  const known = listEnvironments(dir)
  const envs = asked?.length ? asked : known
  for (const env of envs)
    if (!known.includes(env))
      throw refusal(`unknown environment "${env}"`, `known environments: ${known.join(', ')}`)
  return envs.map((env) => loadConfig(env, dir, {}))
}

/** A config.yaml edited in its text (config-text.ts), written whole or not at all. */
async function editConfig(file: string, change: (text: string, file: string) => string): Promise<void> {
  const text = await readFile(file, 'utf8')
  const out = change(text, file)
  if (out !== text) await writeFileAtomic(file, out, 0o644)
}

function refusal(message: string, hint?: string, exitCode = 2): BootstrapError {
  return new BootstrapError(message, { ...(hint ? { hint } : {}), exitCode })
}
