import { BootstrapError } from '../../../core/errors.ts'

/**
 * kind's default storage (local-path-provisioner) manifest and its two images, read from kind's
 * own pkg/build/nodeimage/const_storage.go: a Go raw string concatenated with string constants.
 */

export interface StorageManifest {
  manifest: string
  images: { provisioner: string; helper: string }
}

export function storageManifestFrom(goSource: string): StorageManifest {
  const constants = Object.fromEntries(
    [...goSource.matchAll(/^const\s+(\w+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1], m[2]]),
  ) as Record<string, string>
  const start = goSource.match(/const\s+defaultStorageManifest\s*=\s*`/)
  if (!start || start.index === undefined) throw unreadable('no defaultStorageManifest constant')
  // `...` + name + `...` + name + `...` (ends at a backtick not followed by ` +`).
  let rest = goSource.slice(start.index + start[0].length)
  let manifest = ''
  for (;;) {
    const end = rest.indexOf('`')
    if (end < 0) throw unreadable('unterminated raw string')
    manifest += rest.slice(0, end)
    rest = rest.slice(end + 1)
    const joined = rest.match(/^\s*\+\s*(\w+)\s*\+\s*`/)
    if (!joined?.[1]) break
    const value = constants[joined[1]]
    if (value === undefined) throw unreadable(`unknown constant ${joined[1]}`)
    manifest += value
    rest = rest.slice(joined[0].length)
  }
  const provisioner = constants.storageProvisionerImage
  const helper = constants.storageHelperImage
  if (!provisioner || !helper) throw unreadable('no storageProvisionerImage / storageHelperImage constant')
  return { manifest: manifest.replace(/^\n/, ''), images: { provisioner, helper } }
}

function unreadable(why: string): BootstrapError {
  return new BootstrapError(`cannot read kind's const_storage.go: ${why}`, {
    hint: "kind's source changed shape: update lib/tools/kind-images/build/storage.ts for the pinned kind",
  })
}
