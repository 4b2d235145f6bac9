import { realpathSync } from 'node:fs'
import { join } from 'node:path'
import { plugin } from 'bun'
import { bundleDir, currentManifest, shimSource } from './manifest.ts'

/**
 * When a bundle matching the packages installed in `nodeModules` exists, each package entry point
 * it serves loads as a few lines re-exporting the bundle's copy, and this returns true. Otherwise
 * nothing changes: the packages load from node_modules as usual.
 */
export function loadDependencyBundle(nodeModules: string): boolean {
  const manifest = currentManifest(nodeModules)
  if (!manifest) return false
  const bundlePath = join(bundleDir(nodeModules), manifest.bundle)
  // A module's path is the one it was found at or, through a symlinked node_modules, its real path.
  const roots = new Set([nodeModules])
  try {
    roots.add(realpathSync(nodeModules))
  } catch {}
  const shims = new Map<string, string>()
  for (const root of roots)
    for (const [file, entry] of Object.entries(manifest.entries))
      shims.set(join(root, file), shimSource(bundlePath, entry.member, entry.exports))
  const paths = [...shims.keys()].map((path) => path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
  plugin({
    name: 'dependency-bundle',
    setup(build) {
      build.onLoad({ filter: new RegExp(`^(?:${paths.join('|')})$`) }, (args) => ({
        contents: shims.get(args.path) as string,
        loader: 'js',
      }))
    },
  })
  return true
}
