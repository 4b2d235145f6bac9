import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { Run, RunOptions } from '../core/exec.ts'
import { versions } from '../core/versions.ts'
import type { KObject, Kube } from '../kube/client.ts'
import {
  changedPaths,
  decodeStoredRelease,
  deployedRelease,
  type HelmRelease,
  helmUpgrade,
  helmUpgradeArgs,
  markRevisionFailed,
  planRelease,
  RELEASE_LABEL,
} from './binary.ts'

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

/**
 * A revision in helm's Secret storage, encoded as helm v3 does (JSON, gzip, base64) and as the API
 * serves Secret data (base64 once more). tests/local/helm-release.test.ts reads ones real helm wrote.
 */
function storedRevision(
  revision: number,
  options: { chart?: string; status?: string; values?: unknown; ours?: boolean; type?: string } = {},
) {
  const [name, version] = (options.chart ?? 'argo-cd-10.1.1').split(/-(?=\d)/)
  const stored = {
    name: 'argocd',
    version: revision,
    info: { status: options.status ?? 'deployed', last_deployed: '2026-12-06T10:00:00.123456789Z' },
    chart: { metadata: { name, version } },
    config: options.values === undefined ? release.values : options.values,
  }
  const helmEncoded = gzipSync(JSON.stringify(stored)).toString('base64')
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: options.type ?? 'helm.sh/release.v1',
    metadata: {
      name: `sh.helm.release.v1.argocd.v${revision}`,
      namespace: 'argocd',
      labels: {
        owner: 'helm',
        name: 'argocd',
        status: options.status ?? 'deployed',
        version: String(revision),
        ...(options.ours === false ? {} : { [RELEASE_LABEL.key]: RELEASE_LABEL.value }),
      },
    },
    data: { release: Buffer.from(helmEncoded).toString('base64') },
  } as KObject
}

/** A cluster whose Secret list holds the given revisions, recording the selectors asked for. */
function storage(...secrets: KObject[]) {
  const asked: string[] = []
  return {
    asked,
    kube: {
      list: async (_v: string, kind: string, namespace?: string, selector?: string) => {
        asked.push(`${kind} ${namespace} ${selector}`)
        return secrets as never[]
      },
    },
  }
}

describe('deployedRelease (helm v3 Secret storage) + planRelease', () => {
  it('no release yet: install', async () => {
    expect(await deployedRelease(storage().kube, release)).toBeUndefined()
    expect(planRelease(undefined, release)).toEqual({ action: 'install' })
  })

  it('equal chart, version and values: unchanged, at the latest revision, in one list', async () => {
    const { kube, asked } = storage(storedRevision(2), storedRevision(3), storedRevision(1))
    const deployed = await deployedRelease(kube, release)
    expect(deployed).toEqual({
      revision: 3,
      status: 'deployed',
      chart: 'argo-cd-10.1.1',
      values: release.values,
      ours: true,
      startedAt: Date.parse('2026-12-06T10:00:00.123Z'),
      record: 'sh.helm.release.v1.argocd.v3',
    })
    expect(planRelease(deployed, release)).toEqual({ action: 'unchanged', revision: 3 })
    expect(asked).toEqual(['Secret argocd owner=helm,name=argocd'])
  })

  it('a revision marked failed is written back as helm writes it: the same release, its status and description new', async () => {
    const secret = storedRevision(4, { status: 'pending-upgrade' })
    const patches: Record<string, unknown>[] = []
    const kube = {
      get: async () => secret,
      mergePatch: async (_ref: unknown, patch: Record<string, unknown>) => {
        patches.push(patch)
      },
    } as unknown as Kube
    await markRevisionFailed(kube, 'argocd', secret.metadata.name, 'died')
    const patch = patches[0] as { metadata: { labels: Record<string, string> }; data: { release: string } }
    expect(patch.metadata.labels.status).toBe('failed')
    const written = decodeStoredRelease(patch.data.release, 'patch') as Record<string, unknown>
    const before = decodeStoredRelease(
      String((secret.data as { release: string }).release),
      'secret',
    ) as Record<string, unknown>
    expect(written).toEqual({
      ...before,
      info: { ...(before.info as object), status: 'failed', description: 'died' },
    })
    // Helm's own encoding: base64 of the gzipped JSON, base64 once more for the Secret's data.
    expect(
      Buffer.from(Buffer.from(patch.data.release, 'base64').toString(), 'base64').subarray(0, 2),
    ).toEqual(Buffer.from([0x1f, 0x8b]))
  })

  it('another chart version: upgrade, saying from which to which', async () => {
    const { kube } = storage(storedRevision(3, { chart: 'argo-cd-10.1.0' }))
    expect(planRelease(await deployedRelease(kube, release), release)).toEqual({
      action: 'upgrade',
      revision: 3,
      changes: ['chart argo-cd-10.1.0 → argo-cd-10.1.1'],
    })
  })

  it('changed values: upgrade, naming the keys that differ and no value', async () => {
    const before = {
      configs: { params: { 'server.insecure': false } },
      dex: { enabled: false },
      extra: { token: 's3cret-value' },
    }
    const { kube } = storage(storedRevision(4, { values: before }))
    const plan = planRelease(await deployedRelease(kube, release), release)
    expect(plan).toEqual({
      action: 'upgrade',
      revision: 4,
      changes: ['values configs.params."server.insecure", extra'],
    })
    expect(JSON.stringify(plan)).not.toContain('s3cret-value')
  })

  it('installed without values (helm stores none): an empty map', async () => {
    const { kube } = storage(storedRevision(1, { values: null }))
    expect((await deployedRelease(kube, release))?.values).toEqual({})
  })

  it('a failed last upgrade: upgrade again', async () => {
    const { kube } = storage(storedRevision(4), storedRevision(5, { status: 'failed' }))
    expect(planRelease(await deployedRelease(kube, release), release)).toMatchObject({
      action: 'upgrade',
      changes: ['release status failed'],
    })
  })

  it('a release of that name without our label: foreign', async () => {
    const { kube } = storage(storedRevision(1, { ours: false }))
    expect(planRelease(await deployedRelease(kube, release), release)).toEqual({
      action: 'foreign',
      revision: 1,
      chart: 'argo-cd-10.1.1',
    })
  })

  it('a Secret with helm’s labels but not its type is no revision', async () => {
    const { kube } = storage(storedRevision(1, { type: 'Opaque' }))
    expect(await deployedRelease(kube, release)).toBeUndefined()
  })

  it('a revision helm could not read either: says which Secret, and no byte of it', async () => {
    const broken = storedRevision(2)
    ;(broken.data as Record<string, string>).release = Buffer.from('H4sI-not-gzip').toString('base64')
    const error = await deployedRelease(storage(broken).kube, release).catch((e: unknown) => e)
    expect(String(error)).toContain('Secret/argocd/sh.helm.release.v1.argocd.v2: not a Helm release')
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
