import { describe, expect, it } from 'vitest'
import { kindConfig, nodeImageNeeds } from '../../providers/kind-cli.ts'
import { builtFrom, NODE_LABELS, nodeImageLabels, POD_RESOLV_CONF } from './labels.ts'

describe('node image labels', () => {
  it('tell the kind provider to disable the default CNI and use the image resolv.conf', () => {
    const labels = nodeImageLabels('abc123def456')
    expect(labels[NODE_LABELS.cni]).toBe('static')
    expect(labels[NODE_LABELS.resolvConf]).toBe(POD_RESOLV_CONF)
    const needs = nodeImageNeeds(labels)
    expect(needs).toEqual({ ownCni: true, resolvConf: '/kind/pod-resolv.conf' })
    const config = kindConfig({ name: 'dev', image: 'x', needs: { ...needs, cgroupV1: true } })
    expect(config).toContain('disableDefaultCNI: true')
    expect(config).toContain('resolvConf: /kind/pod-resolv.conf')
    expect(config).toContain('failCgroupV1: false')
  })

  it('carry the recipe hash, so another recipe is seen as stale', () => {
    const labels = nodeImageLabels('abc123def456')
    expect(builtFrom(labels, 'abc123def456')).toBe(true)
    expect(builtFrom(labels, '000000000000')).toBe(false)
    expect(builtFrom(undefined, 'abc123def456')).toBe(false)
    expect(Object.keys(labels)).toContain('platform-bootstrap.kind-node.recipe')
  })
})
