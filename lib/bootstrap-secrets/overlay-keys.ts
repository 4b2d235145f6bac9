import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { selectedAppFiles } from '../kube/manifests.ts'
import type { EnvConfig } from '../runner/config.ts'
import { recipientsOf } from '../sops/index.ts'
import { recipientOf } from './age.ts'

/**
 * The overlays' SOPS files against the cluster key, before Argo CD renders anything: KSOPS in the
 * repo-server decrypts with the cluster age key only, so a file encrypted to other keys can never
 * render, and waiting for it would only end in a timeout. Read from the files themselves — the
 * Applications the environment selects, the kustomizations they point at, the KSOPS generators
 * those list — so what is checked is what Argo CD will build.
 */

/** A generated per-machine demo Secret (dev, local): create makes it anew when it is gone. */
export const DEMO_SECRET = 'demo-credentials.secret.yaml'

export interface OverlayFile {
  /** Relative to the environment's checkout. */
  file: string
  /** The KSOPS generator that lists it. */
  generator: string
}

/** Every file a KSOPS generator lists, in the kustomizations of the Applications the environment runs. */
export function overlaySopsFiles(env: EnvConfig): OverlayFile[] {
  const appsDir = join(env.root, env.gitops.rootPath)
  if (!existsSync(appsDir)) return []
  const appFiles = readdirSync(appsDir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => /\.ya?ml$/.test(rel))
    .map((rel) => rel.split(sep).join('/'))
  const found: OverlayFile[] = []
  const seen = new Set<string>()
  for (const rel of selectedAppFiles(env.gitops.include, appFiles)) {
    const text = readFileSync(join(appsDir, rel), 'utf8')
    // A file that does not name the platform repository has no Application over it (a tenant's
    // names its own): not parsed, which a hundred tenants would make the bulk of this step.
    if (!text.includes(env.gitops.platformRepo.url)) continue
    for (const doc of parseAllDocuments(text)) {
      const source = (doc.toJS() as { spec?: { source?: { repoURL?: string; path?: string } } } | null)?.spec
        ?.source
      if (source?.repoURL !== env.gitops.platformRepo.url || !source.path) continue
      collect(env.root, join(env.root, source.path), found, seen)
    }
  }
  return found
}

function collect(root: string, dir: string, found: OverlayFile[], seen: Set<string>): void {
  const kustomization = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((name) => join(dir, name))
    .find((file) => existsSync(file))
  if (!kustomization || seen.has(kustomization)) return
  seen.add(kustomization)
  const doc = (parse(readFileSync(kustomization, 'utf8')) ?? {}) as {
    generators?: unknown
    resources?: unknown
  }
  for (const entry of asStrings(doc.generators)) {
    const file = join(dir, entry)
    if (!existsSync(file) || !statSync(file).isFile()) continue
    for (const generator of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const g = generator.toJS() as { kind?: string; files?: unknown } | null
      if (g?.kind !== 'ksops') continue
      for (const listed of asStrings(g.files))
        found.push({ file: rel(root, join(dir, listed)), generator: rel(root, file) })
    }
  }
  for (const entry of asStrings(doc.resources)) {
    const path = join(dir, entry)
    if (existsSync(path) && statSync(path).isDirectory()) collect(root, path, found, seen)
  }
}

/**
 * Stops the run, naming each file, its recipients and the cluster key's, when a listed file is
 * missing or not encrypted to the cluster key. Every problem at once: one edit fixes them all.
 */
export async function assertOverlaysDecryptable(env: EnvConfig, clusterIdentity: string): Promise<void> {
  const problems = await overlayKeyProblems(env, await recipientOf(clusterIdentity))
  if (problems.length === 0) return
  const generated = env.generateMissingSecrets
  throw new BootstrapError(
    `${problems.length === 1 ? 'a SOPS file' : `${problems.length} SOPS files`} the cluster cannot decrypt:\n${problems.map((p) => `    ${p.message}`).join('\n')}`,
    {
      hint: problems.every((p) => generated && p.file.endsWith(`/${DEMO_SECRET}`))
        ? `it is the generated demo Secret of this machine: delete ${problems.map((p) => p.file).join(', ')} and run again, create makes it anew for this cluster's key`
        : 'put the cluster key in .sops.yaml for these paths and run `just secrets-rotate` (sops updatekeys needs a key that decrypts them), or encrypt them again with `just secrets-generate`',
      exitCode: 2,
    },
  )
}

export interface OverlayKeyProblem {
  file: string
  message: string
}

export async function overlayKeyProblems(
  env: EnvConfig,
  clusterRecipient: string,
): Promise<OverlayKeyProblem[]> {
  const problems: OverlayKeyProblem[] = []
  for (const { file, generator } of overlaySopsFiles(env)) {
    const path = join(env.root, file)
    if (!existsSync(path)) {
      problems.push({ file, message: `${file} (listed in ${generator}) does not exist` })
      continue
    }
    let recipients: string[]
    try {
      recipients = await recipientsOf(path)
    } catch {
      problems.push({ file, message: `${file} (listed in ${generator}) is not a SOPS file` })
      continue
    }
    if (!recipients.includes(clusterRecipient))
      problems.push({
        file,
        message: `${file} is encrypted to ${recipients.join(', ') || 'no age key'}, not to the cluster key ${clusterRecipient}`,
      })
  }
  return problems
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

function rel(root: string, path: string): string {
  return relative(root, path).split(sep).join('/')
}
