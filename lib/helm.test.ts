import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { Run, RunOptions } from './exec.ts'
import { type HelmRelease, helmUpgrade, helmUpgradeArgs } from './helm.ts'
import { versions } from './versions.ts'

const release: HelmRelease = {
  name: 'argocd',
  namespace: 'argocd',
  chart: versions.charts.argocd,
  values: { configs: { params: { 'server.insecure': true } }, dex: { enabled: false } },
  kubeconfig: '/state/dev/kubeconfig',
  context: 'kind-platform-dev',
  timeoutSeconds: 300,
}

/** The value after a flag. */
const flagValue = (args: string[], flag: string) => {
  const at = args.indexOf(flag)
  expect(at, `${flag} in ${args.join(' ')}`).toBeGreaterThanOrEqual(0)
  return args[at + 1]
}

describe('helmUpgradeArgs', () => {
  it('upgrades --install the pinned chart version from its repository', () => {
    const args = helmUpgradeArgs(release)
    expect(args.slice(0, 4)).toEqual(['upgrade', '--install', 'argocd', 'argo-cd'])
    expect(flagValue(args, '--repo')).toBe('https://argoproj.github.io/argo-helm')
    expect(flagValue(args, '--version')).toBe(versions.charts.argocd.version)
    expect(flagValue(args, '--namespace')).toBe('argocd')
    expect(flagValue(args, '--kubeconfig')).toBe('/state/dev/kubeconfig')
    expect(flagValue(args, '--kube-context')).toBe('kind-platform-dev')
  })

  it('reads values from stdin only and waits with the timeout', () => {
    const args = helmUpgradeArgs(release)
    expect(flagValue(args, '--values')).toBe('-')
    expect(args.filter((arg) => arg === '--values' || arg === '-f' || arg.startsWith('--values='))).toEqual([
      '--values',
    ])
    expect(args).toContain('--wait')
    expect(flagValue(args, '--timeout')).toBe('300s')
  })

  it('leaves --kube-context out when no context is given', () => {
    expect(helmUpgradeArgs({ ...release, context: undefined })).not.toContain('--kube-context')
  })
})

describe('helmUpgrade', () => {
  it('runs helm with the values as YAML on stdin and a timeout beyond helm’s own', async () => {
    const calls: { command: string; args: string[]; options?: RunOptions }[] = []
    const run: Run = async (command, args, options) => {
      calls.push({ command, args, options })
      return { stdout: '', stderr: '' }
    }
    await helmUpgrade(run, release)
    expect(calls).toHaveLength(1)
    expect(calls[0]?.command).toBe('helm')
    expect(calls[0]?.args).toEqual(helmUpgradeArgs(release))
    expect(parse(calls[0]?.options?.input ?? '')).toEqual(release.values)
    expect(calls[0]?.options?.timeoutMs).toBe(360_000)
  })
})
