import { describe, expect, it } from 'vitest'
import { storageManifestFrom } from './storage.ts'

const source = `package nodeimage

const storageProvisionerImage = "docker.io/kindest/local-path-provisioner:v1"
const storageHelperImage = "docker.io/kindest/local-path-helper:v2"

var defaultStorageImages = []string{storageProvisionerImage, storageHelperImage}

const defaultStorageManifest = \`
kind: Deployment
spec:
  image: \` + storageProvisionerImage + \`
  args: [--helper-image, \` + storageHelperImage + \`]
---
helper: \` + storageHelperImage + \`
\`
`

describe('storageManifestFrom', () => {
  it("fills kind's two image names into its local-path manifest", () => {
    const storage = storageManifestFrom(source)
    expect(storage.images).toEqual({
      provisioner: 'docker.io/kindest/local-path-provisioner:v1',
      helper: 'docker.io/kindest/local-path-helper:v2',
    })
    expect(storage.manifest).toBe(
      'kind: Deployment\nspec:\n  image: docker.io/kindest/local-path-provisioner:v1\n' +
        '  args: [--helper-image, docker.io/kindest/local-path-helper:v2]\n---\n' +
        'helper: docker.io/kindest/local-path-helper:v2\n',
    )
  })

  it('says so when kind changed shape', () => {
    expect(() => storageManifestFrom('package nodeimage\n')).toThrow(/const_storage.go/)
  })
})
