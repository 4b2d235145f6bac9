import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { toolsCacheDir } from '../core/paths.ts'
import { versions } from '../core/versions.ts'

/**
 * The tool catalogue: every binary the project runs (pinned in lib/core/versions.ts), and where each
 * one lives in the tools cache.
 */

/** Every binary the project runs, the version it is pinned to, and the file names it provides. */
export interface Tool {
  name: string
  version: string
  binaries: string[]
  /** Set when the local provider and the tests can do without it: why. */
  optional?: string
}

export const tools: Tool[] = [
  {
    name: 'kubernetes',
    version: versions.kubernetes,
    binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
  },
  { name: 'etcd', version: versions.etcd, binaries: ['etcd'] },
  { name: 'kustomize', version: versions.kustomize, binaries: ['kustomize'] },
  { name: 'kwok', version: versions.kwok, binaries: ['kwok'] },
  { name: 'helm', version: versions.helm, binaries: ['helm'] },
  { name: 'sops', version: versions.sops, binaries: ['sops'] },
  { name: 'age', version: versions.age, binaries: ['age', 'age-keygen'] },
  { name: 'openbao', version: versions.openbao, binaries: ['bao'] },
  { name: 'argocd', version: versions.argocd, binaries: ['argocd'] },
  { name: 'redis', version: versions.redis, binaries: ['redis-server'] },
  { name: 'actionlint', version: versions.actionlint, binaries: ['actionlint'] },
  {
    name: 'kind',
    version: versions.kind,
    binaries: ['kind'],
    optional: 'only the kind provider uses it (and it needs Docker)',
  },
]

/** The tools `create` runs for each provider: what it installs itself when one is missing. */
const PROVIDER_TOOLS: Record<'kind' | 'existing' | 'local', string[]> = {
  local: ['kubernetes', 'etcd', 'kwok', 'kustomize', 'helm', 'sops', 'age', 'openbao', 'argocd', 'redis'],
  kind: ['kind', 'helm', 'sops', 'age'],
  existing: ['helm', 'sops', 'age'],
}

export function toolsFor(provider: keyof typeof PROVIDER_TOOLS): Tool[] {
  return selectTools(PROVIDER_TOOLS[provider])
}

/**
 * The tools whose binaries are neither in their cache folder nor on PATH: file checks only, no
 * process is started, so a run with everything installed pays nothing for asking.
 */
export function missingTools(wanted: Tool[], env: NodeJS.ProcessEnv = process.env): Tool[] {
  const path = (env.PATH ?? '').split(delimiter).filter(Boolean)
  return wanted.filter(
    (tool) =>
      !tool.binaries.every(
        (bin) => existsSync(join(toolDir(tool, env), bin)) || path.some((dir) => existsSync(join(dir, bin))),
      ),
  )
}

/** The Kubernetes commands the kubernetes tool provides (downloaded or built one by one). */
export const K8S_CMDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl']

/**
 * Argo CD's CRDs, kept in its tool folder under crds/: on kind and existing clusters step 06 applies
 * all three (the chart's are an older version's); the local stack runs no ApplicationSet controller.
 */
export const ARGOCD_CRDS = ['application-crd.yaml', 'appproject-crd.yaml', 'applicationset-crd.yaml']

/** `<cache>/<name>/<version>`: one folder per tool and version, holding its binaries. */
export function toolDir(tool: Pick<Tool, 'name' | 'version'>, env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsCacheDir(env), tool.name, tool.version)
}

/** PATH with every cached tool folder first, so the pinned version wins over whatever else is installed. */
export function toolsPath(path = process.env.PATH ?? '', env: NodeJS.ProcessEnv = process.env): string {
  const dirs = tools.map((tool) => toolDir(tool, env)).filter((dir) => existsSync(dir))
  return [...dirs, path].filter(Boolean).join(delimiter)
}

/** Where a full install log is kept, so a failure can be read in full after the short message. */
export function toolLogFile(
  tool: Pick<Tool, 'name' | 'version'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return join(toolsCacheDir(env), 'logs', `${tool.name}-${tool.version}.log`)
}

/** Finds tools by tool name or by one of their binaries (`kubectl` → kubernetes, `bao` → openbao). */
export function selectTools(names?: string[]): Tool[] {
  if (!names || names.length === 0) return tools
  return names.map((name) => {
    const tool = tools.find((t) => t.name === name || t.binaries.includes(name))
    if (!tool) {
      throw new BootstrapError(`unknown tool ${name}`, {
        hint: `known tools: ${tools.map((t) => t.name).join(', ')}`,
      })
    }
    return tool
  })
}
