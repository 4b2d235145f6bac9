import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaSync } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { toolsPath } from '../tools/catalogue.ts'
import { argocdCm } from './settings.ts'

/**
 * The health the App of Apps sees for each child Application, computed by Argo CD's own Lua
 * engine (`argocd admin settings resource-overrides health`, the binary the tools installer built)
 * from the argocd-cm this runbook gives both tiers: a wave is done only when each of its
 * Applications is Synced, Healthy and has no operation requested or running.
 */
const dir = mkdtempSync(join(tmpdir(), 'pb-health-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const cmFile = join(dir, 'argocd-cm.yaml')
writeFileSync(
  cmFile,
  stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'argocd-cm', namespace: 'argocd' },
    data: argocdCm,
  }),
)

function healthOf(app: Record<string, unknown>): string {
  const file = join(dir, 'app.yaml')
  writeFileSync(
    file,
    stringify({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'child', namespace: 'argocd' },
      ...app,
    }),
  )
  const out = execaSync(
    'argocd',
    ['admin', 'settings', 'resource-overrides', 'health', file, '--argocd-cm-path', cmFile],
    { env: { PATH: toolsPath(process.env.PATH) } },
  ).stdout
  return /STATUS:\s*(\S+)/.exec(out)?.[1] ?? out
}

const status = (sync: string, health: string, extra: Record<string, unknown> = {}) => ({
  status: { sync: { status: sync, revision: 'abc' }, health: { status: health }, ...extra },
})

describe("a child Application's health, as the App of Apps sees it (Argo CD's Lua engine)", () => {
  it('Synced and Healthy, no operation: Healthy — the wave may move on', () => {
    expect(healthOf(status('Synced', 'Healthy'))).toBe('Healthy')
  })

  it('Healthy but OutOfSync: Progressing (its resources are not all applied yet)', () => {
    expect(healthOf(status('OutOfSync', 'Healthy'))).toBe('Progressing')
  })

  it('Synced and Healthy with an operation running or requested: Progressing', () => {
    expect(healthOf(status('Synced', 'Healthy', { operationState: { phase: 'Running' } }))).toBe(
      'Progressing',
    )
    expect(healthOf({ operation: { sync: {} }, ...status('Synced', 'Healthy') })).toBe('Progressing')
  })

  it('an operation that finished does not hold it', () => {
    expect(healthOf(status('Synced', 'Healthy', { operationState: { phase: 'Succeeded' } }))).toBe('Healthy')
  })

  it('its own health when that is not Healthy (Degraded, Missing), whatever the sync', () => {
    expect(healthOf(status('Synced', 'Degraded'))).toBe('Degraded')
    expect(healthOf(status('OutOfSync', 'Missing'))).toBe('Missing')
  })

  it('no status yet: Progressing', () => {
    expect(healthOf({})).toBe('Progressing')
  })
})
