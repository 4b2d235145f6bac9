/**
 * `bun scripts/tools.ts [tool ...]`: installs every pinned tool (or the named ones) into the tools
 * cache. Cached tools are skipped, so running it again is instant. Progress goes to stderr, a
 * summary table to stdout. Then, where a Docker engine answers and the official images cannot be
 * pulled (`--offline`, or the registries do not answer), the kind provider's images
 * (lib/tools/kind-images): `bun scripts/tools.ts kind-images` runs that part alone.
 */
import { BootstrapError, errorMessage } from '../lib/core/errors.ts'
import { toolsCacheDir } from '../lib/core/paths.ts'
import { ensureTools } from '../lib/tools/index.ts'
import { ensureKindImages, type KindImagesResult } from '../lib/tools/kind-images/index.ts'

const KIND_IMAGES = 'kind-images'
/** The cached tools the kind images are made of (the control plane, Argo CD and what its image carries, bao). */
const KIND_IMAGES_NEEDS = ['kubernetes', 'argocd', 'helm', 'kustomize', 'openbao']

function kindImagesSummary(result: KindImagesResult): string {
  if (result.action === 'skipped') return `kind-images  skipped: ${result.reason}\n`
  const how = result.action === 'cached' ? 'cached' : `built in ${Math.round(result.seconds)} s`
  const lines = [`kind-images  ${how}  node image ${result.nodeImage}`]
  for (const entry of result.archives ?? []) lines.push(`             ${result.archiveDir}/${entry.file}`)
  return `${lines.join('\n')}\n`
}

async function main(argv: string[]): Promise<number> {
  const force = argv.includes('--force')
  const offline = argv.includes('--offline')
  const named = argv.filter((arg) => !arg.startsWith('--'))
  const kindImages = named.length === 0 || named.includes(KIND_IMAGES)
  const names = named.includes(KIND_IMAGES)
    ? [...new Set([...named.filter((name) => name !== KIND_IMAGES), ...KIND_IMAGES_NEEDS])]
    : named
  const start = Date.now()
  process.stderr.write(`[tools] cache: ${toolsCacheDir()}\n`)
  try {
    const results = await ensureTools(names, { force, offline })
    const width = Math.max(...results.map((r) => r.name.length))
    for (const r of results) {
      const how = r.action === 'cached' ? `cached (${r.source})` : `${r.source} in ${Math.round(r.seconds)} s`
      process.stdout.write(`${r.name.padEnd(width)}  ${r.version.padEnd(8)}  ${how.padEnd(22)}  ${r.dir}\n`)
    }
    if (kindImages) process.stdout.write(kindImagesSummary(await ensureKindImages({ force, offline })))
    process.stderr.write(
      `[tools] all ${results.length} ready in ${Math.round((Date.now() - start) / 1000)} s\n`,
    )
    return 0
  } catch (error) {
    if (error instanceof BootstrapError) {
      process.stderr.write(`\nerror: ${error.message}\n`)
      if (error.hint) process.stderr.write(`hint: ${error.hint}\n`)
      return error.exitCode
    }
    process.stderr.write(`\nbug: ${errorMessage(error)}\n${error instanceof Error ? error.stack : ''}\n`)
    return 70
  }
}

process.exitCode = await main(process.argv.slice(2))
