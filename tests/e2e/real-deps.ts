import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CoreV1Api } from '@kubernetes/client-node'
import { execa } from 'execa'
import { parse as parseYaml } from 'yaml'
import { run } from '../../lib/core/exec.ts'
import { envStateDir, personalAgeKeyFile, repoRoot } from '../../lib/core/paths.ts'
import { redactor as processRedactor, type Redactor } from '../../lib/core/redact.ts'
import { loadKubeConfig } from '../../lib/kube/client.ts'
import { deploysOpenBao, selectedApplications } from '../../lib/kube/manifests.ts'
import { nodeVaultCall } from '../../lib/openbao/client.ts'
import { INIT_KEYS } from '../../lib/openbao/init-store.ts'
import { kindClusters } from '../../lib/providers/kind-cli.ts'
import { createContext } from '../../lib/runner/cli.ts'
import { type EnvConfig, envPath } from '../../lib/runner/config.ts'
import { Logger } from '../../lib/runner/log.ts'
import { decrypt, decryptDocument } from '../../lib/sops/index.ts'
import { listedRevision } from '../helpers/helm-list.ts'
import { consumersOf, expectedApplications } from './checkout.ts'
import type { CliResult, Cluster, HarnessDeps, OverlaySecret, StepName } from './harness.ts'

/**
 * The kind e2e's real dependencies (harness.ts takes them as HarnessDeps): the runbook's CLIs as
 * child processes, the kind kubeconfig, OpenBao through port-forwards, the overlay's Secrets
 * decrypted with sops.
 */

const SCRIPTS: Record<StepName, string> = {
  destroy: 'scripts/destroy.ts',
  create: 'scripts/create.ts',
  'openbao-setup': 'scripts/09-openbao-setup.ts',
}
/** Ceilings against a hung child only; the runbook's own timeouts say why a step is slow. */
const STEP_TIMEOUT_MS: Record<StepName, number> = {
  destroy: 15 * 60_000,
  create: 90 * 60_000,
  'openbao-setup': 20 * 60_000,
}

/** The runbook as a person runs it, output streamed (masked) and captured. */
function runCli(
  env: EnvConfig,
  step: StepName,
  redactor: Redactor,
  out: (line: string) => void,
  track?: (child: ChildProcess) => void,
): Promise<CliResult> {
  const bun = process.versions.bun ? process.execPath : 'bun'
  // A hung child gets SIGTERM at the step's ceiling (execa's timeout).
  const child = execa(bun, [SCRIPTS[step], '--env', env.name], {
    cwd: env.root,
    env: { FORCE_COLOR: '0' },
    stdin: 'ignore',
    buffer: false,
    reject: false,
    timeout: STEP_TIMEOUT_MS[step],
  })
  track?.(child)
  let output = ''
  let pending = ''
  const take = (chunk: Buffer) => {
    output += chunk.toString()
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) out(`    │ ${redactor.mask(line)}`)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  return child.then((result): CliResult => {
    if (pending) out(`    │ ${redactor.mask(pending)}`)
    if (result.exitCode === undefined && !result.signal)
      return { code: 127, output: redactor.mask(`${output}\ncould not start ${bun}: ${result.shortMessage}`) }
    const note = result.signal
      ? `\nkilled by ${result.signal}${result.timedOut ? ` after the ${STEP_TIMEOUT_MS[step] / 60_000} min ceiling` : ''}`
      : ''
    return { code: result.exitCode ?? 128, output: redactor.mask(output + note) }
  })
}

async function connectKind(env: EnvConfig, log: Logger): Promise<Cluster> {
  // A context per round: the recreated cluster has a new CA and port in its kubeconfig.
  const ctx = createContext(env, { dryRun: false, force: false, rotate: [] }, log)
  const kube = await ctx.kube()
  const access = ctx.provider.access(ctx)
  const core = loadKubeConfig(access.kubeconfig, access.context).makeApiClient(CoreV1Api)
  return {
    kube,
    async openbao() {
      const endpoint = await ctx.provider.openbao(ctx)
      // A kept-alive socket would hold the forward's server.close() open: it gets 5 s, then the run moves on.
      const close = () =>
        Promise.race([endpoint.close(), new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref())])
      return { call: nodeVaultCall(endpoint.address), close }
    },
    podLog: (namespace, name, container, previous) =>
      core.readNamespacedPodLog({ namespace, name, container, previous, tailLines: 300 }),
  }
}

/** The Secrets the overlay's KSOPS generator lists, decrypted with the personal key (values registered, never printed). */
async function readOverlaySecrets(env: EnvConfig, redactor: Redactor): Promise<OverlaySecret[]> {
  const overlay = join(env.root, 'gitops', 'overlays', env.name)
  const generator = parseYaml(readFileSync(join(overlay, 'secret-generator.yaml'), 'utf8')) as {
    files?: string[]
  }
  const secrets: OverlaySecret[] = []
  for (const listed of generator.files ?? []) {
    const file = join(overlay, listed)
    // lib/sops decrypts it (its failures explained for the file); the values are registered below.
    const manifest = (await decryptDocument(file, { ageKeyFile: personalAgeKeyFile() })) as {
      metadata?: { name?: string; namespace?: string }
      data?: Record<string, string>
      stringData?: Record<string, string>
    }
    const data: Record<string, string> = { ...(manifest.stringData ?? {}) }
    for (const [key, value] of Object.entries(manifest.data ?? {}))
      data[key] = Buffer.from(value, 'base64').toString()
    redactor.addAll(Object.values(data))
    secrets.push({
      file: listed,
      namespace: manifest.metadata?.namespace ?? 'default',
      name: manifest.metadata?.name ?? '?',
      data,
    })
  }
  return secrets
}

/** The folder of the example secret consumers, and whether an Application the environment includes deploys it. */
const CONSUMERS = join('gitops', 'runtime-secrets', 'consumers')

export function deploysConsumers(env: EnvConfig): boolean {
  return selectedApplications(env).some(
    (app) => (app.spec as { source?: { path?: string } } | undefined)?.source?.path === CONSUMERS,
  )
}

/** `track`: told of every process started against the cluster (the kind tier's reaper). */
export function realDeps(
  env: EnvConfig,
  reportsRoot = join(repoRoot, 'reports'),
  track?: (child: ChildProcess) => void,
): HarnessDeps {
  const log = new Logger()
  const print = (line: string) => process.stdout.write(`${processRedactor.mask(line)}\n`)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  return {
    env,
    redactor: processRedactor,
    cli: (step) => runCli(env, step, processRedactor, print, track),
    track,
    kindClusters: () => kindClusters(run),
    connect: () => connectKind(env, log),
    // lib/sops registers every decrypted value with the process redactor.
    bootstrapValues: () => decrypt(envPath(env, env.secrets.sopsFile)),
    adminToken: async () => (await decrypt(envPath(env, env.openbao.initFile)))[INIT_KEYS.adminToken] ?? '',
    overlaySecrets: () => readOverlaySecrets(env, processRedactor),
    helmRevision: () =>
      listedRevision(run, {
        name: 'argocd',
        namespace: env.argocd.namespace,
        kubeconfig: join(envStateDir(env.name), 'kubeconfig'),
        context: `kind-${env.cluster.name}`,
      }),
    expectedApps: expectedApplications(env, env.root),
    consumers: deploysConsumers(env) ? consumersOf(join(env.root, CONSUMERS)) : undefined,
    openbao: deploysOpenBao(env),
    reportDir: join(reportsRoot, 'e2e', stamp),
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    log: print,
  }
}
