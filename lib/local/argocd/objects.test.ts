import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { crdManifest } from '../../../tests/helpers/crd-manifest.ts'
import type { ApplyOutcome, KObject, Kube, ObjectRef } from '../../kube/client.ts'
import { refOf } from '../../kube/client.ts'
import type { KubeApis } from '../kube.ts'
import { applyCrds, servedKinds } from './objects.ts'

const dir = mkdtempSync(join(tmpdir(), 'pb-crds-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/**
 * An API server whose CRDs are Established the moment they are applied, while its discovery lists
 * a new group only after `discoveryLag` lookups, each answered 404 as the API server does.
 */
function apiServer(discoveryLag: number) {
  const stored = new Map<string, KObject>()
  const lookups: string[] = []
  const kube: Pick<Kube, 'get' | 'apply' | 'requests'> = {
    requests: { reads: 0, writes: 0 },
    async get<T extends KObject>(ref: ObjectRef) {
      return stored.get(ref.name) as T | undefined
    },
    async apply(object: KObject): Promise<ApplyOutcome> {
      const established = {
        ...object,
        status: { conditions: [{ type: 'Established', status: 'True' }] },
      } as KObject
      stored.set(object.metadata.name, established)
      return { ref: refOf(object), object: established, result: 'created' }
    },
  }
  const custom = {
    async getAPIResources({ group, version }: { group: string; version: string }) {
      lookups.push(`${group}/${version}`)
      if (lookups.length <= discoveryLag) throw Object.assign(new Error('HTTP-Code: 404'), { code: 404 })
      return { groupVersion: `${group}/${version}`, resources: [{ kind: 'Widget', name: 'widgets' }] }
    },
  }
  return { apis: { kube, custom } as unknown as KubeApis, lookups }
}

function crdFile(group: string): string {
  const file = join(dir, `${group}.yaml`)
  writeFileSync(file, crdManifest(group))
  return file
}

describe('applyCrds', () => {
  it('returns only once discovery serves the new kind, not at Established', async () => {
    const { apis, lookups } = apiServer(2)
    await applyCrds(apis, [crdFile('a.example')], 10_000, 'kubeconfig')
    expect(lookups).toEqual(['a.example/v1', 'a.example/v1', 'a.example/v1'])
  })

  it('looks nothing up for CRDs it found applied and established', async () => {
    const { apis, lookups } = apiServer(0)
    const file = crdFile('b.example')
    await applyCrds(apis, [file], 10_000, 'kubeconfig')
    lookups.length = 0
    await applyCrds(apis, [file], 10_000, 'kubeconfig')
    expect(lookups).toEqual([])
  })

  it('says which CRDs it waited for, and how to see what discovery lists, when it never lists them', async () => {
    const { apis } = apiServer(Number.POSITIVE_INFINITY)
    const failure = applyCrds(apis, [crdFile('c.example')], 600, 'kubeconfig')
    await expect(failure).rejects.toThrow(/CRDs established and served \(widgets\.c\.example\)/)
    await expect(failure).rejects.toMatchObject({
      hint: expect.stringContaining('get --raw /apis/c.example/v1'),
    })
  })
})

describe('servedKinds', () => {
  it('names each served version of the group, and skips one no longer served', () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.d.example' },
      spec: {
        group: 'd.example',
        names: { kind: 'Widget' },
        versions: [{ name: 'v1' }, { name: 'v1beta1', served: false }, { name: 'v2', served: true }],
      },
    }
    expect(servedKinds(crd)).toEqual([
      { group: 'd.example', version: 'v1', kind: 'Widget' },
      { group: 'd.example', version: 'v2', kind: 'Widget' },
    ])
  })
})
