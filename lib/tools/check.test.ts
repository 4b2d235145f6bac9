import { describe, expect, it } from 'vitest'
import { versionMatches } from './check.ts'

describe('helpers', () => {
  it('matches a version only as a whole version', () => {
    expect(versionMatches('Kubernetes v1.36.3', 'v1.36.3')).toBe(true)
    expect(versionMatches('etcd Version: 3.6.16\nGit SHA', 'v3.6.16')).toBe(true)
    expect(versionMatches('argocd: v3.6.1+unknown', 'v3.6.1')).toBe(true)
    expect(versionMatches('Client Version: v1.32.4-dispatcher', 'v1.36.3')).toBe(false)
    expect(versionMatches('v1.36.30', 'v1.36.3')).toBe(false)
    expect(versionMatches('v11.36.3', 'v1.36.3')).toBe(false)
    expect(versionMatches('v3.22', 'v3.22.0')).toBe(false)
  })
})
