import { describe, expect, it } from 'vitest'
import { fakeDeps, fetched, lines, ok, useToolsSandbox } from '../../../tests/helpers/tools-sandbox.ts'
import { ensureKindImages, IMAGE_REGISTRIES, unreachableRegistries } from './ensure.ts'

useToolsSandbox()

describe('ensureKindImages: when the offline route applies', () => {
  it('is skipped with one line, never an error, when no Docker engine answers', async () => {
    const { deps, calls } = fakeDeps()
    const result = await ensureKindImages({ deps, offline: true })
    expect(result).toMatchObject({ action: 'skipped', reason: 'no Docker engine' })
    expect(lines).toEqual([expect.stringMatching(/^\[kind-images\] skipped: no Docker engine/)])
    expect(calls.map((c) => c.command)).toEqual(['docker'])
  })

  it('is skipped when the image registries answer: kind pulls the official images', async () => {
    const { deps } = fakeDeps((call) => (call.command === 'docker' ? ok('20.10.24\n') : undefined))
    deps.fetch = async (url) => {
      fetched.push(url)
      return new Response(null, { status: 401 })
    }
    const result = await ensureKindImages({ deps })
    expect(result).toMatchObject({ action: 'skipped', reason: 'the official images can be pulled' })
    expect(fetched.sort()).toEqual([...IMAGE_REGISTRIES].sort())
  })

  it('names the registries that do not answer (no pull is attempted: a HEAD request only)', async () => {
    const { deps } = fakeDeps()
    const full = { ...deps } as Parameters<typeof unreachableRegistries>[0]
    expect(await unreachableRegistries(full)).toEqual(['registry-1.docker.io', 'registry.k8s.io', 'quay.io'])
  })
})
