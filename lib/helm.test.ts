import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { Run, RunOptions } from './exec.ts'
import {
  changedPaths,
  deployedRelease,
  type HelmRelease,
  helmUpgrade,
  helmUpgradeArgs,
  planRelease,
  RELEASE_LABEL,
} from './helm.ts'
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

  it('labels the release as this runbook’s, so a later run can tell it from one someone else made', () => {
    expect(flagValue(helmUpgradeArgs(release), '--labels')).toBe(
      `${RELEASE_LABEL.key}=${RELEASE_LABEL.value}`,
    )
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

// Recorded from helm v3.22.0 against a real kube-apiserver (the local tier's), for a release made by
// this runbook and one installed by hand.
const LISTED = (name: string, revision: string, chart = 'argo-cd-10.1.1', status = 'deployed') =>
  JSON.stringify([
    {
      name,
      namespace: 'argocd',
      revision,
      updated: '2026-12-03 18:15:46.42405716 +0000 UTC',
      status,
      chart,
      app_version: 'v3.4.4',
    },
  ])

/** A helm that answers list / list -l / get values from recorded outputs. */
function recordedHelm(answers: { list: string; listOurs: string; values: string }) {
  const calls: string[][] = []
  const run: Run = async (_command, args) => {
    calls.push(args)
    if (args[0] === 'get') return { stdout: answers.values, stderr: '' }
    return { stdout: args.includes('--selector') ? answers.listOurs : answers.list, stderr: '' }
  }
  return { run, calls }
}

describe('deployedRelease + planRelease, on recorded helm outputs', () => {
  const values = JSON.stringify(release.values)

  it('no release yet: install', async () => {
    const { run } = recordedHelm({ list: '[]', listOurs: '[]', values: 'null' })
    expect(await deployedRelease(run, release)).toBeUndefined()
    expect(planRelease(undefined, release)).toEqual({ action: 'install' })
  })

  it('equal chart, version and values: unchanged, at the deployed revision', async () => {
    const { run, calls } = recordedHelm({
      list: LISTED('argocd', '3'),
      listOurs: LISTED('argocd', '3'),
      values,
    })
    const deployed = await deployedRelease(run, release)
    expect(deployed).toEqual({
      revision: 3,
      status: 'deployed',
      chart: 'argo-cd-10.1.1',
      values: release.values,
      ours: true,
    })
    expect(planRelease(deployed, release)).toEqual({ action: 'unchanged', revision: 3 })
    // Reads only: list, list by label, get values.
    expect(calls.map((args) => args.slice(0, 2).join(' '))).toEqual([
      'list --namespace',
      'list --namespace',
      'get values',
    ])
  })

  it('another chart version: upgrade, saying from which to which', async () => {
    const { run } = recordedHelm({
      list: LISTED('argocd', '3', 'argo-cd-10.1.0'),
      listOurs: LISTED('argocd', '3', 'argo-cd-10.1.0'),
      values,
    })
    expect(planRelease(await deployedRelease(run, release), release)).toEqual({
      action: 'upgrade',
      revision: 3,
      changes: ['chart argo-cd-10.1.0 → argo-cd-10.1.1'],
    })
  })

  it('changed values: upgrade, naming the keys that differ and no value', async () => {
    const before = JSON.stringify({
      configs: { params: { 'server.insecure': false } },
      dex: { enabled: false },
      extra: { token: 's3cret-value' },
    })
    const { run } = recordedHelm({
      list: LISTED('argocd', '4'),
      listOurs: LISTED('argocd', '4'),
      values: before,
    })
    const plan = planRelease(await deployedRelease(run, release), release)
    expect(plan).toEqual({
      action: 'upgrade',
      revision: 4,
      changes: ['values configs.params."server.insecure", extra'],
    })
    expect(JSON.stringify(plan)).not.toContain('s3cret-value')
  })

  it('a failed last upgrade: upgrade again', async () => {
    const { run } = recordedHelm({
      list: LISTED('argocd', '5', 'argo-cd-10.1.1', 'failed'),
      listOurs: LISTED('argocd', '5', 'argo-cd-10.1.1', 'failed'),
      values,
    })
    expect(planRelease(await deployedRelease(run, release), release)).toMatchObject({
      action: 'upgrade',
      changes: ['release status failed'],
    })
  })

  it('a release of that name without our label: foreign', async () => {
    const { run } = recordedHelm({ list: LISTED('argocd', '1'), listOurs: '[]', values })
    expect(planRelease(await deployedRelease(run, release), release)).toEqual({
      action: 'foreign',
      revision: 1,
      chart: 'argo-cd-10.1.1',
    })
  })
})

describe('changedPaths', () => {
  it('walks maps, compares lists and scalars whole, names added and removed keys', () => {
    expect(changedPaths({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 1, c: [1, 3] }, e: 1 })).toEqual([
      'a.c',
      'd',
      'e',
    ])
    expect(changedPaths({ a: 1 }, { a: 1 })).toEqual([])
  })
})
