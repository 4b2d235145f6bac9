/**
 * `bun scripts/tools.ts [tool ...]`: installs every pinned tool (or the named ones) into the tools
 * cache. Cached tools are skipped, so running it again is instant. Progress goes to stderr, a
 * summary table to stdout.
 */
import { BootstrapError, errorMessage } from '../lib/errors.ts'
import { toolsCacheDir } from '../lib/paths.ts'
import { ensureTools } from '../lib/tools/index.ts'

async function main(argv: string[]): Promise<number> {
  const force = argv.includes('--force')
  const offline = argv.includes('--offline')
  const names = argv.filter((arg) => !arg.startsWith('--'))
  const start = Date.now()
  process.stderr.write(`[tools] cache: ${toolsCacheDir()}\n`)
  try {
    const results = await ensureTools(names, { force, offline })
    const width = Math.max(...results.map((r) => r.name.length))
    for (const r of results) {
      const how = r.action === 'cached' ? `cached (${r.source})` : `${r.source} in ${Math.round(r.seconds)} s`
      process.stdout.write(`${r.name.padEnd(width)}  ${r.version.padEnd(8)}  ${how.padEnd(22)}  ${r.dir}\n`)
    }
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
