import { join } from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { ensureFirstRunSecrets } from '../bootstrap-secrets/first-run.ts'
import { resolveBootstrapSecrets } from '../bootstrap-secrets/resolve.ts'
import { BootstrapError, errorMessage } from '../core/errors.ts'
import { run } from '../core/exec.ts'
import { envStateDir } from '../core/paths.ts'
import { createKube, type Kube, loadKubeConfig } from '../kube/client.ts'
import { providerFor } from '../providers/index.ts'
import { missingTools, toolsFor } from '../tools/catalogue.ts'
import { type EnvConfig, envPath, loadConfig } from './config.ts'
import { type Context, memo, type RunFlags } from './context.ts'
import { acquireLock } from './lock.ts'
import { Logger } from './log.ts'
import { runStep, type Step } from './step.ts'

/** Command-line options shared by every entry point: `--env`, `--from`, `--dry-run`, … */
export interface Cli {
  envName: string
  flags: RunFlags
  from?: string
  only?: string
  positionals: string[]
  /** `--help`: the options and steps are printed, nothing runs. */
  help: boolean
}

export const CLI_OPTIONS = `options:
  <env>, --env <env>, -e   the environment: environments/<env>/config.yaml (default dev)
  --from <NN>              start at step NN (the steps before it are done)
  --step <NN>              run step NN alone
  --dry-run                say what would change; change and write nothing
  --force                  destroy: a cluster this tool did not make; restore: replace newer values
  --no-snapshot            destroy: without OpenBao's snapshot (when none can be taken)
  --rotate <app/field>     openbao-setup: replace that secret (repeatable)
  --help, -h               this text`

/**
 * node's parseArgs, with what it refuses (an unknown option, a missing value) said as a usage
 * error naming the option, exit code 2: the person mistyped, nothing is wrong with the tool.
 */
export function parseOptions<T extends ParseArgsConfig>(
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error
    // Its first sentence names the option; the rest is about positionals starting with '-'.
    const said = /^[^.]*/.exec(errorMessage(error))?.[0] ?? errorMessage(error)
    throw new BootstrapError(said.charAt(0).toLowerCase() + said.slice(1), { hint: usage, exitCode: 2 })
  }
}

export function parseCli(argv: string[]): Cli {
  const { values, positionals } = parseOptions(
    {
      args: argv,
      allowPositionals: true,
      options: {
        env: { type: 'string', short: 'e' },
        from: { type: 'string' },
        step: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        'no-snapshot': { type: 'boolean', default: false },
        rotate: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    'the options are --env, --from, --step, --dry-run, --force, --no-snapshot and --rotate; --help says what each does',
  )
  return {
    envName: values.env ?? positionals[0] ?? 'dev',
    flags: {
      dryRun: values['dry-run'] ?? false,
      force: values.force ?? false,
      noSnapshot: values['no-snapshot'] ?? false,
      rotate: values.rotate ?? [],
    },
    from: values.from,
    only: values.step,
    positionals,
    help: values.help ?? false,
  }
}

export function createContext(env: EnvConfig, flags: RunFlags, log: Logger): Context {
  const provider = providerFor(env.cluster.provider)
  let client: Kube | undefined
  const ctx: Context = {
    env,
    flags,
    log,
    run,
    provider,
    stateDir: envStateDir(env.name),
    changed: new Set(),
    secrets: memo(async () => {
      const firstRun = await ensureFirstRunSecrets(env, log, { dryRun: flags.dryRun })
      if (firstRun.inMemory)
        return {
          values: firstRun.inMemory,
          sources: Object.fromEntries(
            Object.keys(firstRun.inMemory).map((field) => [field, 'sops' as const]),
          ),
          warnings: [],
        }
      // Every value it resolves is registered with the redactor before it returns; the SOPS
      // file first-run read is not decrypted a second time.
      const { fileValues } = firstRun
      return resolveBootstrapSecrets(
        {
          vault: env.secrets.vault && {
            ...env.secrets.vault,
            tokenFile: envPath(env, env.secrets.vault.tokenFile),
          },
          sopsFile: envPath(env, env.secrets.sopsFile),
          fields: env.secrets.fields,
        },
        { log, decryptSops: fileValues && (async () => fileValues) },
      )
    }),
    source: memo(() => provider.gitopsSource(ctx)),
    kube: memo(async () => {
      const access = provider.access(ctx)
      const kc = loadKubeConfig(access.kubeconfig, access.context)
      client = createKube(kc, {
        onRetry: (what, error) => log.warn(`${what}: ${errorMessage(error)}; retrying`),
      })
      return client
    }),
    apiRequests: () => client && { ...client.requests },
  }
  return ctx
}

/** Picks the steps to run: all, from one id on, or a single one. */
export function selectSteps(steps: Step[], options: { from?: string; only?: string }): Step[] {
  const find = (id: string) => {
    const index = steps.findIndex((step) => step.id === id.padStart(2, '0') || step.name === id)
    if (index < 0)
      throw new BootstrapError(`no step "${id}"`, {
        hint: `steps: ${steps.map((s) => `${s.id}-${s.name}`).join(', ')}`,
        exitCode: 2,
      })
    return index
  }
  if (options.only) return [steps[find(options.only)] as Step]
  if (options.from) return steps.slice(find(options.from))
  return steps
}

/**
 * Runs steps in order under the environment's lock. A failure names the step and prints one
 * line of cause (and how to fix it); the steps before it stay done, so running again continues.
 */
export async function runSteps(
  cli: Cli,
  steps: Step[],
  log = new Logger(),
  afterSuccess?: (ctx: Context) => void,
  options: { installTools?: boolean } = {},
): Promise<number> {
  let release: (() => void) | undefined
  let current: Step | undefined
  try {
    const env = loadConfig(cli.envName)
    // A dry run changes nothing, so it needs no lock, and makes no state folder for one.
    if (!cli.flags.dryRun)
      release = acquireLock(join(envStateDir(env.name), 'run.lock'), `environment ${env.name}`)
    const ctx = createContext(env, cli.flags, log)
    log.info(
      `platform-bootstrap: environment ${env.name} (provider ${env.cluster.provider})${cli.flags.dryRun ? ' — dry run, nothing is changed' : ''}`,
    )
    if (options.installTools) await installMissingTools(env, cli.flags, log)
    const selected = selectSteps(steps, cli)
    // After the tools are in place: a decrypt started before sops is installed would fail for good.
    for (const step of selected) step.prefetch?.(ctx)
    let clusterChecked = false
    for (const step of selected) {
      // A dry run before the cluster exists: what the later steps own would all be created, and
      // there is nothing to compare it with.
      if (cli.flags.dryRun && !clusterChecked && !['00', '01'].includes(step.id)) {
        clusterChecked = true
        if (!(await ctx.provider.hasCluster(ctx))) {
          log.info(`no cluster yet: step ${step.id} and the steps after it would create everything they own`)
          break
        }
      }
      current = step
      await log.step(step.id, step.name, () => runStep(ctx, step))
    }
    current = undefined
    log.summary()
    const requests = ctx.apiRequests?.()
    if (requests) log.info(`  Kubernetes API: ${requests.reads} reads, ${requests.writes} writes`)
    if (!cli.flags.dryRun && !cli.only) afterSuccess?.(ctx)
    return 0
  } catch (error) {
    log.summary()
    return reportFailure(log, error, current ? `step ${current.id}-${current.name} failed` : 'failed')
  } finally {
    release?.()
  }
}

/**
 * `create` installs the tools its provider runs when one is missing (a first run on a fresh
 * machine), with the installer's progress; the installer is loaded only then, so a run with
 * everything installed pays for a few file checks. A dry run says what it would install.
 */
async function installMissingTools(env: EnvConfig, flags: RunFlags, log: Logger): Promise<void> {
  const missing = missingTools(toolsFor(env.cluster.provider))
  if (missing.length === 0) return
  const names = missing.map((tool) => `${tool.name} ${tool.version}`).join(', ')
  if (flags.dryRun) return log.info(`would install ${names} into the tools cache first (\`just tools\`)`)
  log.info(
    `installing what this machine lacks first: ${names} (\`just tools\` does the same; the first build takes minutes)`,
  )
  const { ensureTools } = await import('../tools/install.ts')
  await ensureTools(
    missing.map((tool) => tool.name),
    { deps: { log: (line) => log.info(line) } },
  )
}

/** Entry point of a script: parse argv, run, exit with the code. */
export async function main(
  steps: Step[],
  options: { afterSuccess?: (ctx: Context) => void; installTools?: boolean } = {},
): Promise<never> {
  return runScript(async (log) => {
    const cli = parseCli(process.argv.slice(2))
    if (cli.help) {
      log.info(usage(steps))
      return 0
    }
    return runSteps(cli, steps, log, options.afterSuccess, { installTools: options.installTools })
  })
}

/** What `--help` prints: the options, and the steps this command runs with what each leaves behind. */
export function usage(steps: Step[]): string {
  const width = Math.max(...steps.map((step) => `${step.id} ${step.name}`.length))
  const lines = steps.map((step) => `  ${`${step.id} ${step.name}`.padEnd(width)}   ${step.summary}`)
  return `${CLI_OPTIONS}\nsteps:\n${lines.join('\n')}`
}

/** Entry point of a script: runs `body`, prints a failure with its hint, exits with its code. */
export async function runScript(body: (log: Logger) => Promise<number>): Promise<never> {
  const log = new Logger()
  let code: number
  try {
    code = await body(log)
  } catch (error) {
    code = reportFailure(log, error)
  }
  process.exit(code)
}

/**
 * The one way a failure reaches the terminal: one line of cause, then how to fix it, and the exit
 * code the error carries. Anything but a BootstrapError is a bug, and says so with its stack.
 */
export function reportFailure(log: Logger, error: unknown, where?: string): number {
  log.error(where ? `${where}: ${errorMessage(error)}` : errorMessage(error))
  if (error instanceof BootstrapError) {
    if (error.hint) log.error(`how to fix: ${error.hint}`)
    return error.exitCode
  }
  log.error('this is a bug in platform-bootstrap, not in your input; the stack follows')
  log.error(String((error as Error)?.stack ?? error))
  return 1
}
