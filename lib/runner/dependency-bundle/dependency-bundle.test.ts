import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../core/paths.ts'

// Real Bun processes on a node_modules of their own: a copy of two installed packages.
const dir = mkdtempSync(join(tmpdir(), 'pb-dependency-bundle-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const nodeModules = join(dir, 'node_modules')
for (const name of ['yaml', 'fastest-levenshtein'])
  cpSync(join(repoRoot, 'node_modules', name), join(nodeModules, name), { recursive: true })
writeFileSync(join(nodeModules, '.package-lock.json'), '{"packages":{"node_modules/yaml":{}}}')
const here = join(repoRoot, 'lib', 'runner', 'dependency-bundle')

/** Runs `body` as a module in the temporary folder (no bunfig there: nothing preloaded) and returns what it prints as JSON. */
async function inBun(name: string, body: string): Promise<Record<string, unknown>> {
  const file = join(dir, `${name}.ts`)
  writeFileSync(file, body)
  const { stdout } = await execa(join(repoRoot, 'node_modules/.bin/bun'), [file], { cwd: dir })
  return JSON.parse(stdout)
}

const build = (specifiers: string[]) =>
  inBun(
    'build',
    `import { buildDependencyBundle } from ${JSON.stringify(join(here, 'build.ts'))}
     const manifest = await buildDependencyBundle(${JSON.stringify(nodeModules)}, ${JSON.stringify(specifiers)}, ${JSON.stringify(dir)})
     console.log(JSON.stringify(manifest))`,
  )

/** Imports the packages with the bundle loaded (or not, when it does not match) and reports what was loaded from where. */
const probe = () =>
  inBun(
    'probe',
    `import { loadDependencyBundle } from ${JSON.stringify(join(here, 'load.ts'))}
     const used = loadDependencyBundle(${JSON.stringify(nodeModules)})
     const YAML = await import('yaml')
     const util = await import('yaml/util')
     const { closest } = await import('fastest-levenshtein')
     console.log(JSON.stringify({
       used,
       parsed: YAML.parse('a: [1, 2]'),
       document: new YAML.Document({ b: 1 }).toString(),
       exports: Object.keys(YAML).sort(),
       util: typeof util.stringifyString,
       closest: closest('nmespace', ['namespace', 'secret']),
       yamlModules: Object.keys(require.cache).filter((path) => path.includes('/yaml/dist/')).map((path) => path.replace(/.*\\/yaml\\/dist\\//, '')).sort(),
     }))`,
  )

describe('dependency bundle', () => {
  it('without a bundle, the packages load from node_modules', async () => {
    const plain = await probe()
    expect(plain).toMatchObject({ used: false, parsed: { a: [1, 2] }, closest: 'namespace' })
    expect((plain.yamlModules as string[]).length).toBeGreaterThan(20)
  })

  it('built for what is installed, serves each entry point with the same exports, from one file', async () => {
    const plain = await probe()
    const manifest = await build(['fastest-levenshtein', 'yaml', 'yaml/util'])
    expect(Object.keys(manifest.entries as object).sort()).toEqual([
      'fastest-levenshtein/mod.js',
      'yaml/dist/index.js',
      'yaml/dist/util.js',
    ])
    const bundled = await probe()
    expect(bundled).toMatchObject({
      used: true,
      parsed: { a: [1, 2] },
      closest: 'namespace',
      util: 'function',
    })
    expect(bundled.document).toBe(plain.document)
    expect(bundled.exports).toEqual(plain.exports)
    // Only the two entry points, each a few lines over the bundle.
    expect(bundled.yamlModules).toEqual(['index.js', 'util.js'])
  })

  it('a bundle made for other packages is not used', async () => {
    writeFileSync(
      join(nodeModules, '.package-lock.json'),
      '{"packages":{"node_modules/yaml":{"version":"other"}}}',
    )
    const stale = await probe()
    expect(stale.used).toBe(false)
    expect((stale.yamlModules as string[]).length).toBeGreaterThan(20)
  })

  it('bundles what the sources import statically, not tests, relative paths, built-ins or imports on demand', async () => {
    const sources = join(dir, 'sources')
    mkdirSync(join(sources, 'nested'), { recursive: true })
    writeFileSync(
      join(sources, 'a.ts'),
      `import { x } from 'pkg-a'\nimport type { T } from 'types-only'\nimport { readFileSync } from 'node:fs'\nimport { y } from './b.ts'\nconst lazy = () => import('pkg-lazy')`,
    )
    writeFileSync(
      join(sources, 'nested', 'c.ts'),
      `export { z } from '@scope/pkg-c/sub'\nimport { $ } from 'bun'`,
    )
    writeFileSync(join(sources, 'a.test.ts'), `import { it } from 'vitest'`)
    const found = await inBun(
      'scan',
      `import { staticImports } from ${JSON.stringify(join(here, 'build.ts'))}
       console.log(JSON.stringify({ found: staticImports([${JSON.stringify(sources)}]) }))`,
    )
    expect(found.found).toEqual(['@scope/pkg-c/sub', 'pkg-a'])
  })
})
