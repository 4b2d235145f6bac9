import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { type BundleManifest, bundleDir, bundleKey, MANIFEST_FILE } from './manifest.ts'

const BUNDLE = 'dependencies.js'

/** The packages (and package subpaths) imported statically by the non-test sources under `dirs`. */
export function staticImports(dirs: string[]): string[] {
  const transpiler = new Bun.Transpiler({ loader: 'ts' })
  const specifiers = new Set<string>()
  for (const dir of dirs) {
    for (const file of new Bun.Glob('**/*.ts').scanSync(dir)) {
      if (file.endsWith('.test.ts')) continue
      for (const { path, kind } of transpiler.scanImports(readFileSync(join(dir, file), 'utf8'))) {
        // What is imported only on demand stays out: the bundle is evaluated whole on every start.
        if (kind === 'dynamic-import') continue
        if (path.startsWith('.') || isAbsolute(path) || path.startsWith('node:') || path === 'bun') continue
        specifiers.add(path)
      }
    }
  }
  return [...specifiers].sort()
}

/**
 * Bundles `specifiers` (each resolved from `from`) into one CommonJS file with Bun's bytecode beside
 * it, and writes the manifest the preload reads. Made in a temporary folder and renamed into place,
 * so a run never sees half a bundle.
 */
export async function buildDependencyBundle(
  nodeModules: string,
  specifiers: string[],
  from: string,
): Promise<BundleManifest> {
  const key = bundleKey(nodeModules)
  if (!key) throw new Error(`${join(nodeModules, '.package-lock.json')} is missing: install with npm`)
  // Bun resolves a package to its real path: compared with node_modules' own, through any symlink.
  const realModules = realpathSync(nodeModules)
  const files = specifiers.map((specifier) => ({
    specifier,
    file: relative(realModules, Bun.resolveSync(specifier, from)),
  }))
  const outside = files.find(({ file }) => file.startsWith('..'))
  if (outside) throw new Error(`${outside.specifier} resolves outside ${nodeModules}`)

  const target = bundleDir(nodeModules)
  const staging = `${target}.${process.pid}.tmp`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  try {
    const entry = join(staging, 'entry.ts')
    writeFileSync(
      entry,
      files.map(({ specifier }, i) => `export * as m${i} from ${JSON.stringify(specifier)}`).join('\n'),
    )
    const result = await Bun.build({
      entrypoints: [entry],
      root: staging,
      outdir: staging,
      naming: BUNDLE,
      target: 'bun',
      format: 'cjs',
      bytecode: true,
      // Names kept: errors and classes report theirs.
      minify: { whitespace: true, syntax: true, identifiers: false },
    })
    if (!result.success) throw new AggregateError(result.logs, 'bun build failed')
    rmSync(entry)
    const loaded = require(join(staging, BUNDLE)) as Record<string, Record<string, unknown>>
    const entries: BundleManifest['entries'] = {}
    files.forEach(({ specifier, file }, i) => {
      const member = `m${i}`
      entries[file] = { specifier, member, exports: Object.keys(loaded[member] ?? {}) }
    })
    const manifest: BundleManifest = { key, bundle: BUNDLE, entries }
    writeFileSync(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`)
    rmSync(target, { recursive: true, force: true })
    mkdirSync(dirname(target), { recursive: true })
    renameSync(staging, target)
    return manifest
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const root = resolve(import.meta.dir, '..', '..', '..')
  const nodeModules = join(root, 'node_modules')
  try {
    const specifiers = staticImports([join(root, 'lib'), join(root, 'scripts')])
    const manifest = await buildDependencyBundle(nodeModules, specifiers, join(root, 'lib'))
    const files = readdirSync(bundleDir(nodeModules)).join(', ')
    console.log(
      `dependency bundle: ${Object.keys(manifest.entries).length} package entry points in ${bundleDir(nodeModules)} (${files})`,
    )
  } catch (error) {
    // A start without the bundle is slower, never different: installing goes on.
    console.warn(
      `dependency bundle not built (${error instanceof Error ? error.message : error}); the runbook loads its packages from node_modules`,
    )
  }
}
