import { describe, expect, it } from 'vitest'
import type { KObject, Kube } from '../lib/kube/client.ts'
import { rootApplication } from '../lib/kube/manifests.ts'
import { loadConfig } from '../lib/runner/config.ts'
import type { Context } from '../lib/runner/context.ts'
import { Logger } from '../lib/runner/log.ts'
import { memorySink } from '../tests/helpers/memory-sink.ts'
import { step } from './07-root-app.ts'

const URL = 'file:///gitops-repos/platform'

/** Step 07's objects against a cluster holding `existing` as Application root. */
async function objectsWith(existing: KObject | undefined, include?: string[]) {
  const env = loadConfig('dev')
  if (include) env.gitops.include = include
  const sink = memorySink()
  const ctx = {
    env,
    log: new Logger({ sink }),
    source: async () => ({ platformURL: URL, tenantURLs: {} }),
    kube: async () => ({ get: async () => existing }) as unknown as Kube,
  } as unknown as Context
  return { objects: await step.objects?.(ctx), lines: sink.lines }
}

describe('step 07: the root App of Apps', () => {
  const applied = rootApplication(loadConfig('dev'), URL)

  it('is created when absent', async () => {
    expect((await objectsWith(undefined)).objects).toEqual([applied])
  })

  it('is left alone when its source is as configured, whatever else changed through Argo CD', async () => {
    const byHand = { ...applied, spec: { ...(applied.spec as object), syncPolicy: {} } } as KObject
    const { objects, lines } = await objectsWith(byHand)
    expect(objects).toEqual([])
    expect(lines.join('\n')).toMatch(/source is as configured/)
  })

  it('follows a changed gitops.include, and gives every other field back as the cluster has it', async () => {
    const byHand = {
      ...applied,
      spec: { ...(applied.spec as object), syncPolicy: { automated: null } },
    } as KObject
    const { objects, lines } = await objectsWith(byHand, ['platform/*', 'overlays/dev.yaml'])
    expect(objects).toHaveLength(1)
    const spec = objects?.[0]?.spec as { source: { directory: { include: string } }; syncPolicy: unknown }
    expect(spec.source.directory.include).toBe('{platform/*,overlays/dev.yaml}')
    expect(spec.syncPolicy).toEqual({ automated: null })
    expect(lines.join('\n')).toMatch(/Application\/root: directory\.include differs from the config/)
  })

  it('follows a moved served repository', async () => {
    const moved = rootApplication(loadConfig('dev'), 'file:///elsewhere/platform')
    const { objects, lines } = await objectsWith(moved)
    const spec = (objects?.[0]?.spec ?? {}) as { source?: { repoURL?: string } }
    expect(spec.source?.repoURL).toBe(URL)
    expect(lines.join('\n')).toMatch(/repoURL differs/)
  })
})
