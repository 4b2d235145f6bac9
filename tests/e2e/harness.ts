import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BootstrapError, errorMessage, lastLines } from '../../lib/core/errors.ts'
import type { Redactor } from '../../lib/core/redact.ts'
import { waitFor } from '../../lib/core/wait.ts'
import type { KObject, Kube, ObjectRef } from '../../lib/kube/client.ts'
import type { BaoCall } from '../../lib/openbao/client.ts'
import { INIT_KEYS } from '../../lib/openbao/init-store.ts'
import { type EnvConfig, loadConfig } from '../../lib/runner/config.ts'
import {
  ageKeySecretHolds,
  applicationsConverged,
  bootstrapSecretsExist,
  helmRevisionKept,
  kindClusterExists,
  managedVersions,
  mountedFileHolds,
  namespacesExist,
  nodesReady,
  openbaoUnsealed,
  openbaoValuesKept,
  podReplaced,
  refusedByProject,
  resourceVersionsKept,
  rootApplicationExists,
  secretHolds,
  type Verdict,
} from '../assertions/assertions.ts'
import type { Consumers } from './checkout.ts'
import {
  EXIT,
  internetTargets,
  type PreflightProbes,
  preflight,
  realProbes,
  refuseUnlessKind,
} from './preflight.ts'
import { realDeps } from './real-deps.ts'
import { collectDiagnostics, type DiagnosticsSource, E2EReport } from './report.ts'

/**
 * The kind e2e (`just e2e [env]`): destroy → create → openbao-setup through the real CLIs,
 * then every assertion through the shared verdict functions; then the whole cycle again,
 * and the second round must find the same OpenBao values and cluster age key as the first.
 * Writes reports/e2e/<time>/report.json, and diagnostics next to it on failure.
 *
 * Exit codes: 0 passed, 1 a step or assertion failed, 2 refused (not a kind environment,
 * unknown environment, bad arguments), 77 Docker missing, 78 no internet.
 */

export type StepName = 'destroy' | 'create' | 'openbao-setup'
const STEPS: StepName[] = ['destroy', 'create', 'openbao-setup']
export const ROUNDS = 2
const POLL_MS = 3_000
/** Argo CD evaluates a new Application's project within seconds; two minutes is generous. */
const REFUSAL_BUDGET_MS = 120_000
const OPENBAO_POD_SELECTOR = 'app.kubernetes.io/name=openbao'
const FOREIGN_REPO = 'https://github.com/someone-else/anything.git'
/** Argo CD's wordings of a project refusal: a source repository, and (since 2.5) a destination. */
export const PROJECT_REFUSAL =
  /is not permitted in project|do not match any of the allowed destinations|not allowed/i
const ARGO = 'argoproj.io/v1alpha1'

export interface CliResult {
  code: number
  output: string
}

export interface OpenBaoSession {
  call: BaoCall
  close(): Promise<void>
}

/** One cluster, reached after a create: the API, OpenBao through a fresh port-forward per session, pod logs. */
export interface Cluster extends DiagnosticsSource {
  openbao(): Promise<OpenBaoSession>
}

/** A Secret of the overlay, decrypted from its SOPS file: what KSOPS must have put in the cluster. */
export interface OverlaySecret {
  file: string
  namespace: string
  name: string
  data: Record<string, string>
}

export interface HarnessDeps {
  env: EnvConfig
  redactor: Redactor
  cli(step: StepName): Promise<CliResult>
  kindClusters(): Promise<string[]>
  connect(): Promise<Cluster>
  bootstrapValues(): Promise<Record<string, string>>
  adminToken(): Promise<string>
  overlaySecrets(): Promise<OverlaySecret[]>
  /** The revision of the Argo CD Helm release (helm list), none when there is no release. */
  helmRevision(): Promise<number | undefined>
  expectedApps: string[]
  /** The secret consumers of patterns A and B, when the environment's include deploys them. */
  consumers?: Consumers
  /** Whether the environment deploys OpenBao (its include selects the openbao chart). */
  openbao: boolean
  reportDir: string
  now(): number
  sleep(ms: number): Promise<void>
  log(line: string): void
  /** A process a check starts against the cluster: killed with the test run if that dies first. */
  track?(child: ChildProcess): void
}

type Values = Record<string, Record<string, string>>

interface FirstRound {
  identity: string
  values: Values
  /** Written by hand at a path no setup knows, in round 1. */
  byHand: Record<string, string>
}

/** How a run ended: its exit code, and its assertions counted (the steps apart). */
export interface E2EOutcome {
  code: number
  passed: number
  failed: number
}

/** The rounds, the report, the diagnostics. Returns the exit code. */
export async function runE2E(deps: HarnessDeps): Promise<number> {
  return (await runE2ERounds(deps)).code
}

export async function runE2ERounds(deps: HarnessDeps): Promise<E2EOutcome> {
  const report = new E2EReport({
    env: deps.env.name,
    now: deps.now,
    mask: (text) => deps.redactor.mask(text),
    log: deps.log,
  })
  const outputs: Record<string, string> = {}
  let cluster: Cluster | undefined
  let first: FirstRound | undefined
  await learnSecrets(deps)
  rounds: for (let round = 1; round <= ROUNDS; round++) {
    deps.log(`\ne2e round ${round} of ${ROUNDS}: ${STEPS.join(' → ')} on ${deps.env.name}`)
    for (const step of STEPS) {
      const verdict = await report.measure(round, 'step', step, async () => {
        const result = await deps.cli(step)
        outputs[`round-${round}-${step}`] = result.output
        // The first create of a fresh machine makes the bootstrap file: learn its values before judging any output.
        if (step === 'create') await learnSecrets(deps)
        return stepVerdict(step, result)
      })
      // A failed step leaves nothing the assertions could judge fairly.
      if (!verdict.ok) break rounds
    }
    cluster = await connectRound(round, deps, report)
    if (!cluster) break
    first = await assertRound(round, cluster, deps, report, first)
    await report.measure(
      round,
      'assertion',
      'a second create writes nothing: no new Argo CD Helm revision, no resourceVersion moved',
      async () => {
        const before = await deps.helmRevision()
        const versions = cluster ? await managedVersions(cluster.kube, deps.env) : {}
        const again = await deps.cli('create')
        outputs[`round-${round}-create-again`] = again.output
        if (again.code !== 0) return stepVerdict('create', again)
        const helm = helmRevisionKept('argocd', before, await deps.helmRevision())
        const kept = resourceVersionsKept(
          versions,
          cluster ? await managedVersions(cluster.kube, deps.env) : {},
        )
        return { name: 'second create', ok: helm.ok && kept.ok, message: `${helm.message}; ${kept.message}` }
      },
    )
  }

  await learnSecrets(deps)
  const code = report.failed.length ? EXIT.failed : EXIT.passed
  let diagnosticsDir: string | undefined
  if (code !== EXIT.passed) {
    diagnosticsDir = join(deps.reportDir, 'diagnostics')
    if (!cluster) cluster = await deps.connect().catch(() => undefined)
    await collectDiagnostics(diagnosticsDir, cluster, deps.redactor, outputs)
  }
  const file = await report.write(deps.reportDir, code, diagnosticsDir)
  deps.log(
    `\ne2e ${code === EXIT.passed ? 'passed' : `FAILED (${report.failed.length} failed)`}: report ${file}${diagnosticsDir ? `, diagnostics ${diagnosticsDir}` : ''}`,
  )
  const assertions = report.entries.filter((entry) => entry.type === 'assertion')
  return {
    code,
    passed: assertions.filter((entry) => entry.ok).length,
    // A failed step counts too: what it would have let the assertions judge was not judged.
    failed: report.failed.length,
  }
}

/**
 * Registers every secret value the harness can decrypt (bootstrap file, OpenBao init file,
 * overlay Secrets) with the redactor: the runbook masks its own output, but whatever it
 * might let through must not reach the report. A file not made yet is no error here.
 */
async function learnSecrets(deps: HarnessDeps): Promise<void> {
  const sources = [
    async () => Object.values(await deps.bootstrapValues()),
    async () => [await deps.adminToken()],
    async () => (await deps.overlaySecrets()).flatMap((secret) => Object.values(secret.data)),
  ]
  for (const source of sources) deps.redactor.addAll(await source().catch(() => []))
}

async function connectRound(
  round: number,
  deps: HarnessDeps,
  report: E2EReport,
): Promise<Cluster | undefined> {
  let cluster: Cluster | undefined
  await report.measure(round, 'assertion', 'the kind kubeconfig', async () => {
    cluster = await deps.connect()
    return { name: 'kubeconfig', ok: true, message: 'loaded (the node check below is the first API call)' }
  })
  return cluster
}

function stepVerdict(step: StepName, result: CliResult): Verdict {
  const ok = result.code === 0
  return {
    name: step,
    ok,
    message: ok ? 'exit 0' : `exit ${result.code}: ${lastLines(result.output, 4) || 'no output'}`,
  }
}

async function assertRound(
  round: number,
  cluster: Cluster,
  deps: HarnessDeps,
  report: E2EReport,
  first: FirstRound | undefined,
): Promise<FirstRound> {
  const { env, consumers } = deps
  const kube = cluster.kube
  const budgetMs = env.converge.timeoutSeconds * 1000
  const check = (name: string, body: () => Promise<Verdict>) => report.measure(round, 'assertion', name, body)

  await check('kind cluster exists', async () =>
    kindClusterExists(await deps.kindClusters(), env.cluster.name),
  )
  await check('every node Ready', () => nodesReady(kube))
  await check(
    `every Application Synced/Healthy within ${env.converge.timeoutSeconds} s (converge.timeoutSeconds)`,
    () => within(deps, budgetMs, () => applicationsConverged(kube, env, deps.expectedApps)),
  )
  await check('namespaces', () => namespacesExist(kube, env))
  await check('root Application', () => rootApplicationExists(kube, env))

  let identity = ''
  await check('ksops-age-key holds the cluster age key', async () => {
    const values = await deps.bootstrapValues()
    identity = values[env.ageKey.field] ?? ''
    if (!identity)
      return {
        name: 'ksops-age-key',
        ok: false,
        message: `the bootstrap secrets have no ${env.ageKey.field}`,
      }
    return ageKeySecretHolds(kube, env, identity)
  })
  if (first)
    await check('ksops-age-key holds the same cluster age key as round 1', async () =>
      ageKeySecretHolds(kube, env, first.identity),
    )
  await check('bootstrap Secrets with Prune=false', async () =>
    bootstrapSecretsExist(kube, env, await deps.bootstrapValues()),
  )
  await check(`a SOPS-encrypted Secret of gitops/overlays/${env.name} decrypted by KSOPS`, async () => {
    const secrets = await deps.overlaySecrets()
    if (secrets.length === 0)
      return { name: 'KSOPS', ok: false, message: `gitops/overlays/${env.name} lists no encrypted Secret` }
    const verdicts: Verdict[] = []
    for (const secret of secrets)
      for (const [key, value] of Object.entries(secret.data))
        verdicts.push(await secretHolds(kube, secret.namespace, secret.name, key, value))
    return allOf('KSOPS', verdicts)
  })

  let values: Values = {}
  if (deps.openbao) {
    await check('OpenBao initialised and unsealed', async () => openbaoUnsealed(await sealStatus(cluster)))
    await check('OpenBao values readable with the admin token', async () => {
      values = await readOpenBaoValues(cluster, await deps.adminToken(), env, deps.redactor)
      const count = Object.values(values).reduce((n, fields) => n + Object.keys(fields).length, 0)
      return {
        name: 'OpenBao values',
        ok: count > 0,
        message: `${count} values under ${Object.keys(values)
          .map((app) => `secret/data/${app}`)
          .join(', ')}`,
      }
    })
  }

  if (consumers) {
    const a = consumers.patternA
    await check(
      `pattern A: a probe pod reads secret/data/${a.app} ${a.field} from ${a.mountPath}/${a.objectName}`,
      () => probePatternA(kube, deps, consumers, round, values[a.app]?.[a.field]),
    )
    const b = consumers.patternB
    await check(
      `pattern B: Secret ${b.namespace}/${b.secretName} holds secret/data/${b.app} ${b.field}`,
      async () => {
        const expected = values[b.app]?.[b.field]
        if (expected === undefined)
          return {
            name: 'pattern B',
            ok: false,
            message: `OpenBao has no ${b.field} at secret/data/${b.app}`,
          }
        return within(deps, 120_000, () => secretHolds(kube, b.namespace, b.secretName, b.key, expected))
      },
    )
  }

  await check('the tenant AppProject refuses an Application targeting kube-system', () =>
    tenantEscapeRefused(kube, deps),
  )
  await check('the default AppProject refuses an Application from another repository', () =>
    refusal(
      kube,
      deps,
      refusalApplication('e2e-foreign-repo', env.argocd.namespace, 'default', FOREIGN_REPO, 'default'),
      /someone-else/,
    ),
  )

  if (!deps.openbao) return first ?? { identity, values, byHand: {} }
  await openbaoRestart(round, cluster, deps, report, budgetMs)

  if (first) {
    await check('OpenBao holds the same values as round 1', async () =>
      openbaoValuesKept(first.values, values),
    )
    await check('the value written by hand in round 1 came back with the snapshot', async () =>
      openbaoValuesKept(
        { [BY_HAND]: first.byHand },
        { [BY_HAND]: await readKv(cluster, await deps.adminToken(), BY_HAND, deps.redactor) },
      ),
    )
    return first
  }
  // What only the snapshot can bring back: a value at a path no setup knows, and a changed generated one.
  const byHand = { note: `written-by-hand-${Math.random().toString(36).slice(2)}` }
  // A generated value the consumers read when they are deployed, else the first app's first one.
  const app = consumers?.patternA.app ?? env.openbao.apps[0]?.name ?? ''
  const field = consumers?.patternA.field ?? Object.keys(env.openbao.apps[0]?.secrets ?? {})[0] ?? ''
  const changed = {
    ...values[app],
    [field]: `changed-by-hand-${Math.random().toString(36).slice(2)}-0123456789`,
  }
  deps.redactor.addAll([byHand.note, changed[field] ?? ''])
  await check('a value written by hand, and a generated one changed, before the recreate', async () => {
    const token = await deps.adminToken()
    await writeKv(cluster, token, BY_HAND, byHand)
    await writeKv(cluster, token, app, changed)
    return {
      name: 'written',
      ok: true,
      message: `secret/data/${BY_HAND} and secret/data/${app} ${field}`,
    }
  })
  return { identity, values: { ...values, [app]: changed }, byHand }
}

/** A path no setup writes: only OpenBao's snapshot can bring it back after a recreate. */
const BY_HAND = 'e2e-by-hand'

async function writeKv(
  cluster: Cluster,
  token: string,
  path: string,
  data: Record<string, string>,
): Promise<void> {
  const session = await cluster.openbao()
  try {
    const response = await session.call({
      method: 'POST',
      path: `secret/data/${path}`,
      body: { data },
      token,
    })
    if (response.status !== 200 && response.status !== 204)
      throw new Error(`writing secret/data/${path} answered ${response.status}`)
  } finally {
    await session.close()
  }
}

async function readKv(
  cluster: Cluster,
  token: string,
  path: string,
  redactor: Redactor,
): Promise<Record<string, string>> {
  const session = await cluster.openbao()
  try {
    const response = await session.call({ method: 'GET', path: `secret/data/${path}`, token })
    if (response.status !== 200) return {}
    const data = (response.body as { data?: { data?: Record<string, string> } } | undefined)?.data?.data ?? {}
    redactor.addAll(Object.values(data))
    return data
  } finally {
    await session.close()
  }
}

/** Several verdicts as one entry: ok when all are, naming what failed. */
function allOf(name: string, verdicts: Verdict[]): Verdict {
  const bad = verdicts.filter((v) => !v.ok)
  return {
    name,
    ok: bad.length === 0,
    message: (bad.length ? bad : verdicts).map((v) => `${v.name}: ${v.message}`).join('; '),
  }
}

/**
 * The verdict once it holds, or the last one when the budget runs out: the harness reports a
 * timeout as a failed verdict, it does not throw. Errors are retried: the API or a port-forward may blink.
 */
async function within(
  deps: Pick<HarnessDeps, 'now' | 'sleep'>,
  budgetMs: number,
  body: () => Promise<Verdict>,
): Promise<Verdict> {
  const started = deps.now()
  let last: Verdict = { name: 'poll', ok: false, message: 'not checked' }
  const held = await waitFor(
    'the verdict to hold',
    async () => {
      try {
        last = await body()
      } catch (error) {
        last = { name: 'poll', ok: false, message: errorMessage(error) }
      }
      return last.ok && last
    },
    { timeoutMs: budgetMs, intervalMs: POLL_MS, clock: deps },
  ).catch(() => undefined)
  return held
    ? { ...held, message: `${held.message} (after ${Math.round((deps.now() - started) / 1000)} s)` }
    : { ...last, message: `${last.message} (still so after the ${Math.round(budgetMs / 1000)} s budget)` }
}

/** Polls `body` until it returns a value; undefined when the budget runs out. */
async function poll<T>(
  deps: Pick<HarnessDeps, 'now' | 'sleep'>,
  budgetMs: number,
  body: () => Promise<T | undefined>,
): Promise<T | undefined> {
  // Every error is a blink of the API or the port-forward; the budget bounds them.
  return waitFor('a value', body, {
    timeoutMs: budgetMs,
    intervalMs: POLL_MS,
    notYet: () => true,
    clock: deps,
  }).catch(() => undefined)
}

async function sealStatus(cluster: Cluster): Promise<unknown> {
  const session = await cluster.openbao()
  try {
    const response = await session.call({ method: 'GET', path: 'sys/seal-status', token: '' })
    if (response.status !== 200) throw new Error(`sys/seal-status answered ${response.status}`)
    return response.body
  } finally {
    await session.close()
  }
}

async function readOpenBaoValues(
  cluster: Cluster,
  token: string,
  env: EnvConfig,
  redactor: Redactor,
): Promise<Values> {
  if (!token) throw new Error(`no ${INIT_KEYS.adminToken} in ${env.openbao.initFile}`)
  const session = await cluster.openbao()
  try {
    const values: Values = {}
    for (const app of env.openbao.apps) {
      const response = await session.call({ method: 'GET', path: `secret/data/${app.name}`, token })
      // The status only: the body holds the values.
      if (response.status !== 200)
        throw new Error(`reading secret/data/${app.name} answered ${response.status}`)
      const data = ((response.body as { data?: { data?: Record<string, unknown> } } | undefined)?.data
        ?.data ?? {}) as Record<string, unknown>
      values[app.name] = Object.fromEntries(
        Object.entries(data).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      )
      redactor.addAll(Object.values(values[app.name] ?? {}))
    }
    return values
  } finally {
    await session.close()
  }
}

/** The probe pod: the digest of the mounted file goes to its termination message, the value stays in the pod. */
export function probePod(consumers: Consumers, name: string): KObject {
  const a = consumers.patternA
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: a.namespace,
      labels: {
        'app.kubernetes.io/name': 'e2e-probe',
        'app.kubernetes.io/managed-by': 'platform-bootstrap-e2e',
      },
    },
    spec: {
      serviceAccountName: a.serviceAccount,
      restartPolicy: 'Never',
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'probe',
          // The consumer's own image: already on the node, nothing new to pull.
          image: a.image,
          env: [{ name: 'FILE', value: `${a.mountPath}/${a.objectName}` }],
          command: [
            'sh',
            '-c',
            'd=$(sha256sum "$FILE") || exit 3; echo "$d" | cut -d" " -f1 > /dev/termination-log',
          ],
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '50m', memory: '32Mi' } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [{ name: 'secrets', mountPath: a.mountPath, readOnly: true }],
        },
      ],
      volumes: [
        {
          name: 'secrets',
          csi: {
            driver: 'secrets-store.csi.k8s.io',
            readOnly: true,
            volumeAttributes: { secretProviderClass: a.secretProviderClass },
          },
        },
      ],
    },
  }
}

async function probePatternA(
  kube: Kube,
  deps: HarnessDeps,
  consumers: Consumers,
  round: number,
  expected: string | undefined,
): Promise<Verdict> {
  const a = consumers.patternA
  if (expected === undefined)
    return { name: 'pattern A', ok: false, message: `OpenBao has no ${a.field} at secret/data/${a.app}` }
  const name = `e2e-pattern-a-probe-${round}`
  const ref: ObjectRef = { apiVersion: 'v1', kind: 'Pod', name, namespace: a.namespace }
  await removed(kube, deps, ref)
  await kube.apply(probePod(consumers, name))
  try {
    const finished = await poll(deps, 300_000, async () => {
      const pod = await kube.get(ref)
      const phase = (pod?.status as { phase?: string } | undefined)?.phase
      return phase === 'Succeeded' || phase === 'Failed' ? pod : undefined
    })
    return mountedFileHolds(finished ?? (await kube.get(ref)), `${a.mountPath}/${a.objectName}`, expected)
  } finally {
    await kube.delete(ref)
  }
}

/** Deletes `ref` if there (a leftover of an interrupted run) and waits until it is gone. */
async function removed(kube: Kube, deps: HarnessDeps, ref: ObjectRef): Promise<void> {
  if (!(await kube.delete(ref))) return
  await poll(deps, 120_000, async () => ((await kube.get(ref)) ? undefined : true))
}

export function refusalApplication(
  name: string,
  namespace: string,
  project: string,
  repoURL: string,
  destination: string,
): KObject {
  return {
    apiVersion: ARGO,
    kind: 'Application',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'platform-bootstrap-e2e' } },
    spec: {
      project,
      source: { repoURL, path: '.', targetRevision: 'HEAD' },
      destination: { server: 'https://kubernetes.default.svc', namespace: destination },
    },
  }
}

/** From the repository the tenant's project permits, so the destination alone is what it refuses. */
async function tenantEscapeRefused(kube: Kube, deps: HarnessDeps): Promise<Verdict> {
  const namespace = deps.env.argocd.namespace
  const tenant = Object.keys(deps.env.gitops.tenantRepos)[0]
  if (!tenant)
    return { name: 'tenant', ok: false, message: 'the environment has no tenant (gitops.tenantRepos)' }
  const project = await kube.get({ apiVersion: ARGO, kind: 'AppProject', name: tenant, namespace })
  const repo = (project?.spec as { sourceRepos?: string[] } | undefined)?.sourceRepos?.[0]
  if (!repo)
    return {
      name: 'tenant',
      ok: false,
      message: `AppProject ${namespace}/${tenant} ${project ? 'permits no repository' : 'does not exist'}`,
    }
  return refusal(
    kube,
    deps,
    refusalApplication('e2e-tenant-escape', namespace, tenant, repo, 'kube-system'),
    /kube-system/,
  )
}

async function refusal(kube: Kube, deps: HarnessDeps, app: KObject, fragment: RegExp): Promise<Verdict> {
  const ref: ObjectRef = {
    apiVersion: ARGO,
    kind: 'Application',
    name: app.metadata.name,
    namespace: app.metadata.namespace,
  }
  await removed(kube, deps, ref)
  await kube.apply(app)
  try {
    const refused = await poll(deps, REFUSAL_BUDGET_MS, async () => {
      const found = await kube.get(ref)
      return refusedByProject(found, PROJECT_REFUSAL).ok ? found : undefined
    })
    const found = refused ?? (await kube.get(ref))
    const byProject = refusedByProject(found, PROJECT_REFUSAL)
    // Both: refused by its project, and for the reason the test provoked.
    return byProject.ok ? refusedByProject(found, fragment) : byProject
  } finally {
    await kube.delete(ref)
  }
}

const isRunning = (pod: KObject) =>
  (pod.status as { phase?: string } | undefined)?.phase === 'Running' &&
  !(pod.metadata as { deletionTimestamp?: string }).deletionTimestamp

/** Deletes the OpenBao pod; its StatefulSet brings a new one, which must unseal itself: the harness only reads. */
async function openbaoRestart(
  round: number,
  cluster: Cluster,
  deps: HarnessDeps,
  report: E2EReport,
  budgetMs: number,
): Promise<void> {
  const kube = cluster.kube
  const namespace = deps.env.openbao.namespace
  const check = (name: string, body: () => Promise<Verdict>) => report.measure(round, 'assertion', name, body)
  let after: KObject | undefined
  const replaced = await check('the OpenBao pod, deleted, is replaced', async () => {
    const before = (await kube.list('v1', 'Pod', namespace, OPENBAO_POD_SELECTOR)).find(isRunning)
    if (!before) return podReplaced(undefined, undefined)
    await kube.delete({ apiVersion: 'v1', kind: 'Pod', name: before.metadata.name, namespace })
    after = await poll(deps, budgetMs, async () =>
      (await kube.list('v1', 'Pod', namespace, OPENBAO_POD_SELECTOR)).find(
        (pod) => pod.metadata.uid !== before.metadata.uid && isRunning(pod),
      ),
    )
    return podReplaced(before, after)
  })
  if (!replaced.ok) return
  await check('OpenBao unsealed itself after its pod was deleted', async () =>
    within(deps, budgetMs, async () =>
      openbaoUnsealed(await sealStatus(cluster), 'after its pod was deleted'),
    ),
  )
}

// ---------------------------------------------------------------------------------------------
// Entry point

export interface MainDeps {
  load(envName: string): EnvConfig
  probes: PreflightProbes
  start(env: EnvConfig): Promise<number>
  out(line: string): void
  err(line: string): void
}

/** Refusals and preflight come before anything is touched: each ends the run with its own code. */
export async function main(argv: string[], deps: MainDeps): Promise<number> {
  let envName: string
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { env: { type: 'string', short: 'e' } },
    })
    envName = values.env ?? positionals[0] ?? 'dev'
  } catch (error) {
    deps.err(`e2e: ${errorMessage(error)}; usage: bun tests/e2e/harness.ts --env <kind environment>`)
    return EXIT.refused
  }
  let env: EnvConfig
  try {
    env = deps.load(envName)
  } catch (error) {
    deps.err(
      `e2e: ${errorMessage(error)}${error instanceof BootstrapError && error.hint ? ` (${error.hint})` : ''}`,
    )
    return EXIT.refused
  }
  const refused = refuseUnlessKind(env)
  if (refused && !refused.ok) {
    deps.err(refused.message)
    return refused.code
  }
  const ready = await preflight(deps.probes, await internetTargets(env, deps.probes))
  if (!ready.ok) {
    deps.err(ready.message)
    return ready.code
  }
  deps.out(ready.message)
  try {
    return await deps.start(env)
  } catch (error) {
    // Reading the checkout (gitops tree, config) before the first step: nothing was touched yet.
    deps.err(`e2e: could not start: ${errorMessage(error)}`)
    return EXIT.failed
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), {
    load: (name) => loadConfig(name),
    probes: realProbes,
    start: (env) => runE2E(realDeps(env)),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  })
  process.exit(code)
}
