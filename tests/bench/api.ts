import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { GitopsSource } from '../../lib/argocd/gitops-source.ts'
import { resolveBootstrapSecrets } from '../../lib/bootstrap-secrets/resolve.ts'
import { run } from '../../lib/core/exec.ts'
import { redactor } from '../../lib/core/redact.ts'
import { applyAll } from '../../lib/kube/apply.ts'
import type { ApplyResult, KObject } from '../../lib/kube/client.ts'
import { localLayout, servedReposDir } from '../../lib/local/layout.ts'
import { localBinary } from '../../lib/local/process/binaries.ts'
import { freePort, LOOPBACK } from '../../lib/local/process/ports.ts'
import { createContext } from '../../lib/runner/cli.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'
import type { Context } from '../../lib/runner/context.ts'
import { step as namespacesStep } from '../../scripts/02-namespaces.ts'
import { step as ageKeyStep } from '../../scripts/03-age-key.ts'
import { step as repoCredentialsStep } from '../../scripts/04-repo-credentials.ts'
import { step as bootstrapSecretsStep } from '../../scripts/05-bootstrap-secrets.ts'
import { step as argocdStep } from '../../scripts/06-argocd.ts'
import { step as rootAppStep } from '../../scripts/07-root-app.ts'
import { silentServer } from '../helpers/silent-server.ts'
import type { Workspace } from '../local/workspace.ts'
import { ensurePlatform } from './create.ts'
import { type Bench, notes, observe, quiet, record, say, tempDir } from './recorder.ts'
import { pairedRatios, stats } from './stats.ts'

/** The api and fallback phases: the steps' objects applied cold, as a no-op and by kubectl; the bootstrap secrets' fallback. */

// The objects the API steps apply, through the steps' own builders.

/**
 * A copy of the environment whose namespaces all carry `-<tag>`, so each run applies into
 * namespaces nothing has touched: "cold" is really cold, and the no-op re-run finds exactly what
 * the cold run left. Argo CD's controllers watch only `argocd`, so the copies stay inert.
 */
function suffixed(env: EnvConfig, tag: string): EnvConfig {
  const s = (name: string) => `${name}-${tag}`
  const namespaces = env.namespaces.map(s)
  const bootstrapSecrets = env.bootstrapSecrets.map((spec) => ({ ...spec, namespace: s(spec.namespace) }))
  const argocd = { ...env.argocd, namespace: s(env.argocd.namespace) }
  for (const ns of [argocd.namespace, ...bootstrapSecrets.map((spec) => spec.namespace)]) {
    if (!namespaces.includes(ns))
      throw new Error(`namespace ${ns} is used but not in namespaces: the bench needs it there`)
  }
  return { ...env, namespaces, bootstrapSecrets, argocd }
}

/**
 * (1) and (2): steps 02–07 themselves — each step's `objects(ctx)`, applied by the runner's
 * applier (applyAll) — through a Context from createContext, so a fresh Kube per run counts the
 * requests and a changed step is measured as it is. The steps' reads are kept (the age-key guard,
 * argocd-secret's key, the root app's existence check). Left out, as not API work: each step's
 * `run` (03's encrypted backup file, 06's start of the Argo CD processes) and publishing the
 * checkout with git (04's source is handed over, its URLs as the local provider makes them).
 */
const API_STEPS = [
  namespacesStep,
  ageKeyStep,
  repoCredentialsStep,
  bootstrapSecretsStep,
  argocdStep,
  rootAppStep,
]

async function applyLikeTheSteps(ctx: Context): Promise<ApplyResult[]> {
  const results: ApplyResult[] = []
  for (const step of API_STEPS) results.push(...(await applyAll(ctx, (await step.objects?.(ctx)) ?? [])))
  return results
}

/** The same objects, in the same order, for the kubectl baseline (built before its clock starts). */
async function objectsOfTheSteps(ctx: Context): Promise<KObject[]> {
  const objects: KObject[] = []
  for (const step of API_STEPS) objects.push(...((await step.objects?.(ctx)) ?? []))
  return objects
}

/**
 * (3): the way a shell runbook applies — one `kubectl apply --server-side` process per manifest.
 * Each manifest goes to kubectl on stdin (`-f -`): a Secret is never written to disk in plaintext. kubectl is the pinned one from the tools cache; its discovery cache is a temp dir,
 * warmed by an untimed run first, as a person's is after their first command (the kinder case
 * for the baseline). `-v=6` makes kubectl log one line per HTTP request: that is the count.
 */
async function kubectlApplyEach(
  kubectl: string,
  kubeconfig: string,
  cacheDir: string,
  objects: KObject[],
): Promise<{ requests: number }> {
  let requests = 0
  for (const object of objects) {
    const { stderr } = await run(
      kubectl,
      ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'apply', '--server-side', '-f', '-', '-v=6'],
      { input: JSON.stringify(object), timeoutMs: 60_000 },
    )
    requests += (stderr.match(/\] "Response" verb="/g) ?? []).length
  }
  return { requests }
}

export function benchContext(env: EnvConfig, values: Record<string, string>, source?: GitopsSource): Context {
  // createContext's secrets() would also make first-run files next to this checkout: the values
  // are resolved once from the workspace's SOPS file instead and handed over as they are.
  const resolved = { values, sources: {}, warnings: [] }
  const ctx = createContext(env, { dryRun: false, force: false, rotate: [] }, quiet)
  return { ...ctx, secrets: async () => resolved, source: source ? async () => source : ctx.source }
}

export async function phaseApi(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const values = b.values as Record<string, string>
  await ensurePlatform(b)
  const kubeconfig = localLayout(join(ws.stateDir, 'local')).adminKubeconfig
  // The served repositories' URLs, as lib/providers/local.ts makes them (publishing is not API work).
  const reposDir = servedReposDir(localLayout(join(ws.stateDir, 'local')))
  const source: GitopsSource = {
    platformURL: `file://${join(reposDir, 'platform')}`,
    tenantURLs: Object.fromEntries(
      Object.keys(env.gitops.tenantRepos).map((tenant) => [
        tenant,
        `file://${join(reposDir, `tenant-${tenant}`)}`,
      ]),
    ),
  }
  const kubectl = localBinary('kubectl')
  notes.push(`api: kubectl is ${kubectl}; namespaces suffixed -bc<run> (runbook path) and -bk<run> (kubectl)`)
  const cacheDir = join(tempDir('pb-bench-kubectl-'), 'cache')
  const objectCount = (await objectsOfTheSteps(benchContext(suffixed(env, 'bcount'), values, source))).length

  const once = async (tag: string) => {
    const coldEnv = suffixed(env, `bc${tag}`)
    const cold = benchContext(coldEnv, values, source)
    let started = performance.now()
    const created = await applyLikeTheSteps(cold)
    const coldMs = performance.now() - started
    const coldKube = await cold.kube()
    if (created.some((r) => r !== 'created'))
      throw new Error(`cold run ${tag}: not everything was created (${created.join(', ')})`)

    const again = benchContext(coldEnv, values, source) // a new run: a new Kube, as a new `just create` process has
    started = performance.now()
    const unchanged = await applyLikeTheSteps(again)
    const noopMs = performance.now() - started
    const againKube = await again.kube()
    if (unchanged.some((r) => r !== 'unchanged'))
      throw new Error(`no-op run ${tag}: something changed (${unchanged.join(', ')})`)

    const objects = await objectsOfTheSteps(benchContext(suffixed(env, `bk${tag}`), values, source))
    started = performance.now()
    const baseline = await kubectlApplyEach(kubectl, kubeconfig, cacheDir, objects)
    const kubectlMs = performance.now() - started
    return {
      coldMs,
      coldRequests: coldKube.requests.reads + coldKube.requests.writes,
      coldWrites: coldKube.requests.writes,
      noopMs,
      noopRequests: againKube.requests.reads + againKube.requests.writes,
      noopWrites: againKube.requests.writes,
      kubectlMs,
      kubectlRequests: baseline.requests,
    }
  }

  say(`api: one untimed warm-up of both paths (${objectCount} objects each; warms kubectl's discovery cache)`)
  await once('w')
  const runs: Awaited<ReturnType<typeof once>>[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    say(`api: cold create, no-op re-run, kubectl baseline — run ${i}/${b.runs}`)
    runs.push(await once(String(i)))
  }
  const pick = (key: keyof (typeof runs)[number]) => runs.map((r) => r[key])
  record(
    'api.cold',
    `(1) cold create, ${objectCount} objects of steps 02–07: wall time`,
    'ms',
    pick('coldMs'),
  )
  record(
    'api.cold.requests',
    '(1) cold create: API requests (reads + writes)',
    'count',
    pick('coldRequests'),
    {
      note: `of which writes: ${stats(pick('coldWrites')).median} (one server-side apply per object)`,
    },
  )
  record('api.noop', '(2) no-op re-run of the same: wall time', 'ms', pick('noopMs'), {
    target: { below: 2000 },
  })
  record('api.noop.writes', '(2) no-op re-run: writes', 'count', pick('noopWrites'), {
    target: { below: 1, on: 'max' },
  })
  record('api.noop.requests', '(2) no-op re-run: API requests (all reads)', 'count', pick('noopRequests'))
  record(
    'api.kubectl',
    `(3) kubectl apply --server-side, one process per manifest (${objectCount})`,
    'ms',
    pick('kubectlMs'),
  )
  record(
    'api.kubectl.requests',
    '(3) kubectl baseline: API requests (from kubectl -v=6)',
    'count',
    pick('kubectlRequests'),
  )
  const speedup = pairedRatios(pick('kubectlMs'), pick('coldMs'))
  const ratio = stats(pick('coldMs')).median / stats(pick('kubectlMs')).median
  record('api.speedup', '(3) ÷ (1): kubectl baseline time over cold create time, per run', 'x', speedup, {
    target: { atLeast: 12 },
    note: `ratio of medians (1) : (3) = ${ratio.toFixed(3)} (cold create takes ${(ratio * 100).toFixed(1)} % of the baseline's time)`,
  })
}

/** A port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const port = await freePort()
  const refused = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: LOOPBACK, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
  if (!refused) throw new Error(`port ${port} was expected to refuse connections`)
  return port
}

export async function phaseFallback(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const keys = tempDir('pb-bench-vault-')
  const tokenFile = join(keys, 'vault-token')
  const token = randomBytes(16).toString('hex')
  redactor.add(token)
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  const base = { sopsFile: env.secrets.sopsFile, fields: env.secrets.fields, ageKeyFile: ws.keyFile }
  const vault = (port: number) => ({
    address: `http://${LOOPBACK}:${port}`,
    kvPath: 'secret/data/bench/bootstrap',
    tokenFile,
  })

  const timeResolve = async (vaultPort: number | undefined): Promise<{ ms: number; warning: string }> => {
    const started = performance.now()
    const resolved = await resolveBootstrapSecrets(
      { ...base, vault: vaultPort === undefined ? undefined : vault(vaultPort) },
      { log: quiet },
    )
    const ms = performance.now() - started
    const fromSops = Object.values(resolved.sources).filter((s) => s === 'sops').length
    if (fromSops !== env.secrets.fields.length)
      throw new Error(`the fallback gave ${fromSops} of ${env.secrets.fields.length} fields`)
    return { ms, warning: resolved.warnings[0] ?? '' }
  }

  const refused = await closedPort()
  const silent = await silentServer()
  try {
    say('fallback: one untimed resolve (warms sops and the node-vault client)')
    await timeResolve(refused)
    const samples = { refused: [] as number[], silent: [] as number[], sops: [] as number[] }
    const warnings = { refused: '', silent: '' }
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`fallback: refused, silent, SOPS alone — run ${i}/${b.runs}`)
      const a = await timeResolve(refused)
      samples.refused.push(a.ms)
      warnings.refused = a.warning
      const s = await timeResolve(silent.port)
      samples.silent.push(s.ms)
      warnings.silent = s.warning
      silent.drop()
      samples.sops.push((await timeResolve(undefined)).ms)
    }
    const cause = (warning: string) => /\(([^)]*)\)/.exec(warning)?.[1] ?? warning
    record(
      'fallback.refused',
      '(4a) fallback, OpenBao refusing connections → SOPS values',
      'ms',
      samples.refused,
      {
        target: { below: 500 },
        note: `warning said: unreachable (${cause(warnings.refused)})`,
      },
    )
    record(
      'fallback.silent',
      '(4b) fallback, OpenBao accepting, never answering → SOPS values',
      'ms',
      samples.silent,
      {
        target: { below: 3500 },
        note: `default timeout 3 s; warning said: unreachable (${cause(warnings.silent)})`,
      },
    )
    record('fallback.sops', '(4) reference: the SOPS file alone (no Vault configured)', 'ms', samples.sops)
  } finally {
    await silent.close()
  }
}
