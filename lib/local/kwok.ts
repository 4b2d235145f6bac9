import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V1Node } from '@kubernetes/client-node'
import { writeFileAtomicSync } from '../core/atomic-file.ts'
import { run as defaultRun, type Run } from '../core/exec.ts'
import { versions } from '../core/versions.ts'
import type { KObject } from '../kube/client.ts'
import { kwokStageFiles as cachedKwokStageFiles } from '../tools/artifacts.ts'

/**
 * kwok's side of the local cluster: the stages it plays (kwok's own defaults — node
 * initialise + heartbeat, pods straight to Running) and the fake Node objects it manages.
 */

/** kwok manages exactly the nodes with this annotation (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = { key: 'kwok.x-k8s.io/node', value: 'fake' } as const

/** The default stages, as kwok's module ships them in kustomize/stage/. */
export const KWOK_STAGE_SETS = ['node/fast', 'node/heartbeat', 'pod/fast'] as const

export function nodeName(index: number): string {
  return `kwok-node-${index}`
}

/**
 * A fake Node as kwok's documentation creates one (kwok.sigs.k8s.io "Manage Nodes and Pods"),
 * without the NoSchedule taint: here its pods are meant to be scheduled.
 */
export function fakeNode(index: number): V1Node & KObject {
  const name = nodeName(index)
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64'
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        [KWOK_NODE_ANNOTATION.key]: KWOK_NODE_ANNOTATION.value,
      },
      labels: {
        'beta.kubernetes.io/arch': arch,
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch,
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/role': 'agent',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
  }
}

export interface StageOptions {
  /** Where the combined stages file is written. */
  file: string
  run?: Run
  env?: NodeJS.ProcessEnv
}

/**
 * Writes every default stage into one multi-document file for `kwok --config`. The stage
 * YAMLs come from the tools cache (`kwokStageFiles()`, lib/tools/artifacts.ts) or, when they are not
 * copied there yet, from kwok's module in the Go module cache.
 */
export async function writeKwokStages(options: StageOptions): Promise<string[]> {
  const files = await kwokStageFiles(options.run ?? defaultRun, options.env ?? process.env)
  const docs = files.map((file) =>
    readFileSync(file, 'utf8')
      .trim()
      .replace(/^---\n/, ''),
  )
  mkdirSync(join(options.file, '..'), { recursive: true, mode: 0o700 })
  writeFileAtomicSync(options.file, `${docs.join('\n---\n')}\n`, 0o644)
  return files
}

async function kwokStageFiles(run: Run, env: NodeJS.ProcessEnv): Promise<string[]> {
  try {
    return cachedKwokStageFiles(env)
  } catch (notCached) {
    // Not copied into the tools cache (yet): kwok's module in the Go module cache has them.
    const { stdout } = await run('go', ['mod', 'download', '-json', `sigs.k8s.io/kwok@${versions.kwok}`], {
      timeoutMs: 120_000,
      hint: 'run `just tools kwok`',
    })
    const dir = (JSON.parse(stdout) as { Dir?: string }).Dir
    const files = dir
      ? KWOK_STAGE_SETS.flatMap((set) => stageYamls(join(dir, 'kustomize', 'stage', set)))
      : []
    if (files.length === 0) throw notCached
    return files
  }
}

/** The Stage documents in one stage set of kwok's module (not its kustomization nor test data). */
function stageYamls(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .map((entry) => join(dir, entry))
    .filter((path) => path.endsWith('.yaml') && /^kind:\s*Stage\s*$/m.test(readFileSync(path, 'utf8')))
}
