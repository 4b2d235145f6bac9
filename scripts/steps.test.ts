import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../lib/core/paths.ts'
import { steps } from './steps.ts'

describe('the runbook order', () => {
  it('runs every numbered script, in file order, from 00-cluster to 09-openbao-setup', () => {
    const files = readdirSync(join(repoRoot, 'scripts'))
      .filter((file) => /^\d\d-.*\.ts$/.test(file) && !file.endsWith('.test.ts'))
      .sort()
      .map((file) => file.replace(/\.ts$/, ''))
    expect(steps.map((step) => `${step.id}-${step.name}`)).toEqual(files)
    expect(files[0]).toBe('00-cluster')
    expect(files.at(-1)).toBe('09-openbao-setup')
  })

  it('makes the age key and repository credentials before Argo CD, and the root app after it', () => {
    const index = (name: string) => steps.findIndex((step) => step.name === name)
    expect(index('age-key')).toBeLessThan(index('argocd'))
    expect(index('repo-credentials')).toBeLessThan(index('argocd'))
    expect(index('bootstrap-secrets')).toBeLessThan(index('root-app'))
    expect(index('argocd')).toBeLessThan(index('root-app'))
    expect(index('root-app')).toBeLessThan(index('converge'))
  })
})
