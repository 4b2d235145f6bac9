import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isSeq, parseDocument, parse as parseYaml, stringify } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { DNS_LABEL } from '../runner/config.ts'
import { relativeTo } from './common.ts'
import { CORE, DEFAULT_NAMESPACE } from './plan.ts'
import { ruleFor, type SopsConfig } from './sops-rules.ts'

/** The overlays secrets-generate writes into: where each is, its namespace, and the lists that name its secret files. */

export function overlayDir(root: string, target: string): string {
  return join(root, 'gitops', 'overlays', target)
}

/** Whether an environment's overlay secrets have committed recipients in .sops.yaml (not per machine). */
export function isShared(config: SopsConfig, env: string): boolean {
  return (ruleFor(config, `gitops/overlays/${env}/secrets/probe.secret.yaml`)?.recipients.length ?? 0) > 0
}

/** `secrets.namespace` of an environment's config (optional; the runbook's own schema does not read it). */
export function overlayNamespace(root: string, env: string): string {
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
export function overlayListEdits(dir: string, target: string, names: string[]): [string, string][] {
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
export function includeCore(text: string): string | undefined {
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
