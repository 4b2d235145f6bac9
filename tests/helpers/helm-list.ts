import type { Run } from '../../lib/core/exec.ts'

/**
 * The latest revision of a release as `helm list` reports it: what the tests compare before and
 * after a run, asked of helm itself rather than of the runbook's own reader of helm's storage.
 */
export async function listedRevision(
  run: Run,
  target: { name: string; namespace: string; kubeconfig: string; context?: string },
): Promise<number | undefined> {
  const { stdout } = await run('helm', [
    'list',
    '--all',
    '--output',
    'json',
    '--filter',
    `^${target.name}$`,
    '--namespace',
    target.namespace,
    '--kubeconfig',
    target.kubeconfig,
    ...(target.context ? ['--kube-context', target.context] : []),
  ])
  const found = (JSON.parse(stdout || '[]') as { name: string; revision: string }[]).find(
    (entry) => entry.name === target.name,
  )
  return found ? Number(found.revision) : undefined
}
