import { describe, expect, it } from 'vitest'
import { mountsUnder } from './build/mounts.ts'
import { proxyOnly } from './context.ts'
import { criBaseSpec, restrictOomScoreAdj } from './images/node-image.ts'
import {
  componentImages,
  hashOf,
  nodeRecipe,
  platformImages,
  platformRecipe,
  recipeKey,
  stableJson,
} from './recipe.ts'

describe('recipe keys', () => {
  it('hash the same recipe the same way whatever the key order', () => {
    expect(stableJson({ b: 1, a: [2, { d: 3, c: undefined }] })).toBe('{"a":[2,{"d":3}],"b":1}')
    expect(hashOf({ a: 1, b: 2 })).toBe(hashOf({ b: 2, a: 1 }))
    expect(hashOf({ a: 1 })).toMatch(/^[0-9a-f]{12}$/)
  })

  it('change when a file of the recipe changes', () => {
    const files = { 'pod-resolv.conf': 'nameserver 10.244.0.1\n' }
    const changed = { 'pod-resolv.conf': 'nameserver 10.244.0.2\n' }
    expect(recipeKey(nodeRecipe(files))).not.toBe(recipeKey(nodeRecipe(changed)))
    expect(recipeKey(platformRecipe(files, { 'main.go': 'a' }))).not.toBe(
      recipeKey(platformRecipe(files, { 'main.go': 'b' })),
    )
  })

  it('name the images exactly as kubeadm and the charts do', () => {
    expect(componentImages.etcd).toBe('registry.k8s.io/etcd:3.6.8-0')
    expect(componentImages.pause).toEqual(['registry.k8s.io/pause:3.10.2', 'registry.k8s.io/pause:3.10'])
    expect(platformImages.redis).toBe('ecr-public.aws.com/docker/library/redis:8.2.3-alpine')
    expect(platformImages.ksops).toBe('viaductoss/ksops:v4.5.1')
  })
})

describe('node image pieces', () => {
  it("sets restrict_oom_score_adj in kind's containerd config, and fails loudly when it cannot", () => {
    expect(restrictOomScoreAdj('a\n  restrict_oom_score_adj = false\nb')).toBe(
      'a\n  restrict_oom_score_adj = true\nb',
    )
    expect(() => restrictOomScoreAdj('nothing')).toThrow(/restrict_oom_score_adj/)
  })

  it("derives kind's cri-base.json from containerd's default spec", () => {
    const spec = JSON.parse(criBaseSpec(JSON.stringify({ process: { rlimits: [1], cwd: '/' }, hooks: {} })))
    expect(spec.process).toEqual({ cwd: '/' })
    expect(spec.hooks.createContainer).toEqual([{ path: '/kind/bin/mount-product-files.sh' }])
  })

  it('uses the Go module proxy alone, never direct', () => {
    expect(proxyOnly('https://proxy.golang.org,direct')).toBe('https://proxy.golang.org')
    expect(proxyOnly('https://goproxy.example|https://proxy.golang.org')).toBe('https://goproxy.example')
    expect(proxyOnly('direct')).toBe('https://proxy.golang.org')
  })

  it('finds what a failed debootstrap left mounted, deepest first', () => {
    const mounts = [
      'proc /proc proc rw 0 0',
      'proc /tmp/w/root/proc proc rw 0 0',
      'sysfs /tmp/w/root/sys sysfs rw 0 0',
      'tmpfs /tmp/w/root/sys/fs/cgroup tmpfs rw 0 0',
      'tmpfs /tmp/wx tmpfs rw 0 0',
    ].join('\n')
    expect(mountsUnder(mounts, '/tmp/w')).toEqual([
      '/tmp/w/root/sys/fs/cgroup',
      '/tmp/w/root/proc',
      '/tmp/w/root/sys',
    ])
  })
})
