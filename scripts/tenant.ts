/**
 * `just tenant add <name> --repo <url> [--env e …] [--username u] [--token-stdin] [--dry-run]` and
 * `just tenant remove <name> [--env e …] [--dry-run]`: a tenant's files, its repository in each
 * environment's config and its credential in each SOPS file (lib/tenants/tenant.ts). The
 * credential is asked for without echo on a terminal, or read from stdin with --token-stdin; it is
 * never an argument, never printed.
 */

import { BootstrapError } from '../lib/core/errors.ts'
import { repoRoot } from '../lib/core/paths.ts'
import { parseOptions, runScript } from '../lib/runner/cli.ts'
import { addTenant, removeTenant } from '../lib/tenants/tenant.ts'

const USAGE =
  'just tenant add <name> --repo <url> [--env <env> …] [--username <user>] [--token-stdin] [--dry-run] | just tenant remove <name> [--env <env> …] [--dry-run]'

await runScript(async (log) => {
  const { values, positionals } = parseOptions(
    {
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        repo: { type: 'string' },
        env: { type: 'string', multiple: true, default: [] },
        username: { type: 'string' },
        'token-stdin': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    `usage: ${USAGE}`,
  )
  if (values.help) {
    log.info(`usage: ${USAGE}`)
    return 0
  }
  const [command, name] = positionals
  if (!name || (command !== 'add' && command !== 'remove') || positionals.length > 2)
    throw new BootstrapError(`usage: ${USAGE}`, { exitCode: 2 })
  const envs = values.env.flatMap((env) => env.split(',')).filter(Boolean)
  const deps = {
    root: repoRoot,
    say: (line: string) => log.info(line),
    token: async () =>
      values['token-stdin']
        ? readStdin()
        : process.stdin.isTTY
          ? askHidden(
              `credential for ${values.repo} (not shown; empty to generate one where the checkout is served): `,
            )
          : undefined,
  }
  if (command === 'add') {
    if (!values.repo) throw new BootstrapError(`tenant add needs --repo <url>: ${USAGE}`, { exitCode: 2 })
    await addTenant(
      { name, repoURL: values.repo, envs, username: values.username, dryRun: values['dry-run'] },
      deps,
    )
  } else {
    await removeTenant({ name, envs, dryRun: values['dry-run'] }, deps)
  }
  return 0
})

async function readStdin(): Promise<string | undefined> {
  let text = ''
  for await (const chunk of process.stdin) text += chunk
  return text.replace(/\r?\n$/, '') || undefined
}

/** A line read from the terminal with echo off. */
async function askHidden(prompt: string): Promise<string | undefined> {
  process.stderr.write(prompt)
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.resume()
  let value = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') return done(resolve)
          if (char === '\u0003') return done(() => reject(new BootstrapError('cancelled', { exitCode: 130 })))
          if (char === '\u007f') value = value.slice(0, -1)
          else value += char
        }
      }
      const done = (then: () => void) => {
        stdin.off('data', onData)
        then()
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    process.stderr.write('\n')
  }
  return value || undefined
}
