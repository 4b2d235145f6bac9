import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The runtime dependencies the runbook's code imports, prebuilt by `npm install` (postinstall)
 * into one bundle with Bun's bytecode, so a run loads one file instead of ~1,400 modules.
 * It is keyed by what was installed: a bundle made for other packages or another Bun is ignored.
 */
export interface BundleManifest {
  key: string
  /** The bundle, beside this manifest. */
  bundle: string
  /** Each package entry point (relative to node_modules) the bundle serves, with the names it exports. */
  entries: Record<string, { specifier: string; member: string; exports: string[] }>
}

/** Raised when what the bundle is made of (its layout, not the packages) changes. */
const FORMAT = 1

export const MANIFEST_FILE = 'manifest.json'

export function bundleDir(nodeModules: string): string {
  return join(nodeModules, '.cache', 'platform-bootstrap', 'dependency-bundle')
}

/** npm's record of every installed package and version; absent, nothing is bundled. */
export function bundleKey(nodeModules: string): string | undefined {
  let installed: Buffer
  try {
    installed = readFileSync(join(nodeModules, '.package-lock.json'))
  } catch {
    return undefined
  }
  return createHash('sha256').update(`${FORMAT}\0${Bun.version}\0`).update(installed).digest('hex')
}

/** The manifest of a bundle made for exactly what is installed now, or undefined. */
export function currentManifest(nodeModules: string): BundleManifest | undefined {
  const key = bundleKey(nodeModules)
  if (!key) return undefined
  try {
    const manifest = JSON.parse(
      readFileSync(join(bundleDir(nodeModules), MANIFEST_FILE), 'utf8'),
    ) as BundleManifest
    return manifest.key === key ? manifest : undefined
  } catch {
    return undefined
  }
}

/** The module text that stands for one package entry point: its exports, taken from the bundle. */
export function shimSource(bundlePath: string, member: string, exports: string[]): string {
  const lines = [
    `import * as bundle from ${JSON.stringify(bundlePath)}`,
    `const m = bundle[${JSON.stringify(member)}]`,
  ]
  exports.forEach((name, i) => {
    lines.push(`const v${i} = m[${JSON.stringify(name)}]`, `export { v${i} as ${JSON.stringify(name)} }`)
  })
  return lines.join('\n')
}
