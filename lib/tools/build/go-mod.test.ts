import { describe, expect, it } from 'vitest'
import { argocdReplaceArgs, goModRequire, kubernetesReplaceArgs, parseGoModReplaces } from './go-mod.ts'

describe('go.mod replace derivation', () => {
  const kubernetesGoMod = `module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\t// a comment inside the block
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // trailing comment
)
`

  it('turns every staging replace into the published v0.<minor>.<patch> module', () => {
    expect(kubernetesReplaceArgs(kubernetesGoMod, 'v1.36.3')).toEqual([
      '-replace=k8s.io/api=k8s.io/api@v0.36.3',
      '-replace=k8s.io/client-go=k8s.io/client-go@v0.36.3',
    ])
  })

  const argocdGoMod = `module github.com/argoproj/argo-cd/v3

go 1.27.0

require k8s.io/client-go v0.37.0

replace (
\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4
\t// https://github.com/argoproj/argo-cd/issues/1
\tk8s.io/api => k8s.io/api v0.37.0
\tgopkg.in/yaml.v2 v2.2.1 => gopkg.in/yaml.v2 v2.4.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
`

  it('copies versioned replaces and maps the in-repo gitops-engine to its published tag', () => {
    expect(argocdReplaceArgs(argocdGoMod, 'v3.6.1')).toEqual([
      '-replace=github.com/golang/protobuf=github.com/golang/protobuf@v1.5.4',
      '-replace=k8s.io/api=k8s.io/api@v0.37.0',
      '-replace=gopkg.in/yaml.v2@v2.2.1=gopkg.in/yaml.v2@v2.4.0',
      '-replace=github.com/argoproj/argo-cd/gitops-engine/v3=github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.1',
    ])
  })

  it('refuses a local replace it has no published module for', () => {
    const goMod = 'module x\n\nreplace example.com/thing => ../thing\n'
    expect(() => kubernetesReplaceArgs(goMod, 'v1.36.3')).toThrow(/example.com\/thing => ..\/thing/)
  })

  it('parses both the block and the single-line form', () => {
    expect(parseGoModReplaces(argocdGoMod)).toHaveLength(4)
    expect(goModRequire(argocdGoMod, 'k8s.io/client-go')).toBe('v0.37.0')
    expect(goModRequire(kubernetesGoMod, 'k8s.io/api')).toBe('v0.0.0')
  })
})
