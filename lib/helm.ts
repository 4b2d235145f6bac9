import { stringify } from 'yaml'
import type { Run } from './exec.ts'

/** The helm binary, typed: upgrade --install a pinned chart with values passed on stdin (never a values file on disk). */
export interface HelmRelease {
  name: string
  namespace: string
  chart: { repo: string; name: string; version: string }
  values: Record<string, unknown>
  kubeconfig: string
  context?: string
  timeoutSeconds: number
}

export function helmUpgradeArgs(release: HelmRelease): string[] {
  return [
    'upgrade',
    '--install',
    release.name,
    release.chart.name,
    '--repo',
    release.chart.repo,
    '--version',
    release.chart.version,
    '--namespace',
    release.namespace,
    '--kubeconfig',
    release.kubeconfig,
    ...(release.context ? ['--kube-context', release.context] : []),
    '--values',
    '-',
    '--wait',
    '--timeout',
    `${release.timeoutSeconds}s`,
  ]
}

export async function helmUpgrade(run: Run, release: HelmRelease): Promise<void> {
  await run('helm', helmUpgradeArgs(release), {
    input: stringify(release.values),
    hint: 'is helm installed (`just tools`)? can this machine reach the chart repository?',
    timeoutMs: (release.timeoutSeconds + 60) * 1000,
  })
}

export async function helmUninstall(
  run: Run,
  release: Pick<HelmRelease, 'name' | 'namespace' | 'kubeconfig' | 'context'>,
): Promise<void> {
  await run('helm', [
    'uninstall',
    release.name,
    '--namespace',
    release.namespace,
    '--kubeconfig',
    release.kubeconfig,
    '--ignore-not-found',
    ...(release.context ? ['--kube-context', release.context] : []),
  ])
}
