import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { Pod } from 'kubernetes-models/v1'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MASK, Redactor } from '../../lib/core/redact.ts'
import type { ApplyOutcome, KObject, Kube, ObjectRef } from '../../lib/kube/client.ts'
import { ageKeySecret, bootstrapSecret, opaqueSecret, rootApplication } from '../../lib/kube/manifests.ts'
import type { BaoRequest, BaoResponse } from '../../lib/openbao/client.ts'
import { type EnvConfig, loadConfig } from '../../lib/runner/config.ts'
import {
  ageKeySecretHolds,
  appCondition,
  applicationsConverged,
  bootstrapSecretsExist,
  digestOf,
  failed,
  kindClusterExists,
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
} from '../assertions/assertions.ts'
import {
  type Cluster,
  consumersOf,
  expectedApplications,
  type HarnessDeps,
  PROJECT_REFUSAL,
  probePod,
  ROUNDS,
  refusalApplication,
  runE2E,
  type StepName,
} from '../e2e/harness.ts'
import {
  collectDiagnostics,
  describeApplications,
  describeEvents,
  E2EReport,
  failingPods,
  type ReportDocument,
  secretValues,
} from '../e2e/report.ts'
import { recordedApplication } from '../helpers/applications.ts'

/**
 * The verdicts of the kind e2e, fed objects as a cluster returns them: the same functions the
 * local tier runs against its cluster and the nightly run against kind. Then the harness
 * itself, round after round, against a simulated kind cluster: its steps, every assertion,
 * the report, and diagnostics with every secret value masked.
 */

// ---------------------------------------------------------------------------------------------
// An in-memory Kube: what the API server would store (stringData folded into data, uids).

const clone = <T>(value: T): T => structuredClone(value)
const keyOf = (apiVersion: string, kind: string, namespace: string | undefined, name: string) =>
  `${apiVersion}|${kind}|${namespace ?? ''}|${name}`

class FakeKube implements Kube {
  readonly requests = { reads: 0, writes: 0 }
  async podLog(): Promise<string> {
    return ''
  }
  private readonly store = new Map<string, KObject>()
  private serial = 0
  onApply: (object: KObject) => KObject = (object) => object
  onDelete: (object: KObject) => void = () => {}

  constructor(objects: KObject[] = []) {
    for (const object of objects) this.put(object)
  }

  put(input: KObject): KObject {
    const object = clone(input)
    const stringData = object.stringData as Record<string, string> | undefined
    if (stringData) {
      object.data = { ...((object.data as Record<string, string>) ?? {}) }
      for (const [key, value] of Object.entries(stringData))
        (object.data as Record<string, string>)[key] = Buffer.from(value).toString('base64')
      delete object.stringData
    }
    const key = keyOf(
      object.apiVersion ?? '',
      object.kind ?? '',
      object.metadata.namespace,
      object.metadata.name,
    )
    // As an API server does: an apply that changes nothing keeps the resourceVersion.
    const stored = this.store.get(key)
    const bare = (o: KObject) =>
      JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: '', uid: '' } })
    if (
      stored &&
      bare(stored) === bare({ ...object, metadata: { ...object.metadata, uid: stored.metadata.uid } })
    )
      return clone(stored)
    this.serial++
    object.metadata.uid ??= `uid-${this.serial}`
    object.metadata.resourceVersion = String(this.serial)
    this.store.set(key, object)
    return clone(object)
  }

  clear(): void {
    this.store.clear()
  }

  all(kind: string): KObject[] {
    return [...this.store.values()].filter((o) => o.kind === kind).map(clone)
  }

  async get<T extends KObject = KObject>(ref: ObjectRef): Promise<T | undefined> {
    this.requests.reads++
    const found = this.store.get(keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name))
    return found ? (clone(found) as T) : undefined
  }

  async list<T extends KObject = KObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]> {
    this.requests.reads++
    const wanted = (labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((term) => term.split('='))
    return [...this.store.values()]
      .filter(
        (o) =>
          o.apiVersion === apiVersion &&
          o.kind === kind &&
          (!namespace || o.metadata.namespace === namespace),
      )
      .filter((o) =>
        wanted.every(
          ([key, value]) =>
            (o.metadata as { labels?: Record<string, string> }).labels?.[key as string] === value,
        ),
      )
      .map((o) => clone(o) as T)
  }

  async apply(object: KObject): Promise<ApplyOutcome> {
    this.requests.writes++
    const ref = {
      apiVersion: object.apiVersion ?? '',
      kind: object.kind ?? '',
      name: object.metadata.name,
      namespace: object.metadata.namespace,
    }
    const before = this.store.get(keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name))
    const stored = this.put(this.onApply(clone(object)))
    return { ref, object: stored, result: before ? 'configured' : 'created' }
  }

  async mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<void> {
    const annotations =
      (patch.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {}
    const object = await this.get(ref)
    if (object)
      this.put({
        ...object,
        metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, ...annotations } },
      })
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    this.requests.writes++
    const key = keyOf(ref.apiVersion, ref.kind, ref.namespace, ref.name)
    const found = this.store.get(key)
    if (!found) return false
    this.store.delete(key)
    this.onDelete(clone(found))
    return true
  }
}

// ---------------------------------------------------------------------------------------------
// Recorded objects (trimmed to the fields that matter).

const ARGO = 'argoproj.io/v1alpha1'
const env = loadConfig('dev')

function application(
  name: string,
  status: Record<string, unknown>,
  spec: Record<string, unknown> = {},
): KObject {
  return {
    apiVersion: ARGO,
    kind: 'Application',
    metadata: { name, namespace: 'argocd' },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc' }, ...spec },
    status,
  }
}

const SYNCED = {
  sync: { status: 'Synced', revision: '3f1c2a9' },
  health: { status: 'Healthy' },
  operationState: { phase: 'Succeeded', message: 'successfully synced (all tasks run)' },
}
const DEGRADED = {
  sync: { status: 'Synced', revision: '3f1c2a9' },
  health: { status: 'Degraded', message: 'Deployment "grafana" exceeded its progress deadline' },
  resources: [
    {
      kind: 'Deployment',
      namespace: 'monitoring',
      name: 'grafana',
      status: 'Synced',
      health: { status: 'Degraded', message: 'Deployment "grafana" exceeded its progress deadline' },
    },
    { kind: 'ServiceAccount', namespace: 'monitoring', name: 'grafana', status: 'Synced' },
  ],
}
const DESTINATION_REFUSED =
  "application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-a'"
const REPO_REFUSED =
  "application repo https://github.com/someone-else/anything.git is not permitted in project 'default'"
const refusedStatus = (message: string) => ({
  sync: { status: 'Unknown' },
  health: { status: 'Unknown' },
  conditions: [{ type: 'InvalidSpecError', message, lastTransitionTime: '2026-01-01T00:00:00Z' }],
})

function node(name: string, ready: boolean): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'KubeletReady' : 'KubeletNotReady',
        },
      ],
    },
  }
}

function pod(
  namespace: string,
  name: string,
  status: Record<string, unknown>,
  labels: Record<string, string> = {},
  uid?: string,
): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, ...(uid ? { uid } : {}) },
    status,
  }
}

const runningReady = (container: string) => ({
  phase: 'Running',
  containerStatuses: [
    {
      name: container,
      ready: true,
      restartCount: 0,
      state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
    },
  ],
})

const AGE_KEY = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ'
const BOOTSTRAP = {
  age_cluster_private_key: AGE_KEY,
  github_token_platform: 'recorded-platform-token',
  github_token_tenant: 'recorded-tenant-token',
  openbao_unseal_key: 'cmVjb3JkZWQtdW5zZWFsLWtleS0zMi1ieXRlcy4uLi4=',
  cloudflare_api_token: 'recorded-cloudflare-token',
}

// ---------------------------------------------------------------------------------------------

describe('appCondition', () => {
  it('finds the message of a condition by type', () => {
    const refused = recordedApplication('tenant-a', {
      conditions: [
        {
          type: 'InvalidSpecError',
          message: 'not permitted in project',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
        { type: 'ComparisonError', message: 'later condition' },
      ],
    })
    expect(appCondition(refused, 'InvalidSpecError')).toBe('not permitted in project')
    expect(appCondition(refused, 'ComparisonError')).toBe('later condition')
    expect(appCondition(refused, 'SyncError')).toBeUndefined()
    expect(appCondition(recordedApplication('new'), 'InvalidSpecError')).toBeUndefined()
  })
})

describe('Applications', () => {
  const kube = (...apps: KObject[]) => new FakeKube(apps)

  it('all Synced/Healthy: converged, naming them', async () => {
    const verdict = await applicationsConverged(
      kube(application('root', SYNCED), application('platform-config', SYNCED)),
      env,
      ['root', 'platform-config'],
    )
    expect(verdict).toMatchObject({
      ok: true,
      message: '2 Applications Synced/Healthy: root, platform-config',
    })
  })

  it('a degraded one: not converged, with its state and why', async () => {
    const verdict = await applicationsConverged(
      kube(application('root', SYNCED), application('secret-consumers', DEGRADED)),
      env,
    )
    expect(verdict.ok).toBe(false)
    expect(verdict.message).toBe(
      'pending: secret-consumers Synced/Degraded (Deployment "grafana" exceeded its progress deadline); absent: -',
    )
  })

  it('one expected but absent, and none at all, are not converged', async () => {
    expect(
      (await applicationsConverged(kube(application('root', SYNCED)), env, ['root', 'openbao'])).message,
    ).toBe('pending: -; absent: openbao')
    expect((await applicationsConverged(kube(), env)).ok).toBe(false)
  })

  it('an Application refused by its project: the condition is the refusal, in both of Argo CD’s wordings', () => {
    const tenantEscape = application('e2e-tenant-escape', refusedStatus(DESTINATION_REFUSED), {
      project: 'tenant-a',
    })
    expect(refusedByProject(tenantEscape, PROJECT_REFUSAL)).toMatchObject({
      ok: true,
      message: `condition: ${DESTINATION_REFUSED}`,
    })
    expect(refusedByProject(tenantEscape, /kube-system/).ok).toBe(true)
    const foreign = application('e2e-foreign-repo', refusedStatus(REPO_REFUSED))
    expect(refusedByProject(foreign, PROJECT_REFUSAL).ok).toBe(true)
    expect(refusedByProject(foreign, /someone-else/).ok).toBe(true)
    expect(refusedByProject(foreign, /kube-system/).ok).toBe(false)
  })

  it('a healthy Application is no refusal; nor is a missing one', () => {
    expect(refusedByProject(application('tenant-a', SYNCED), PROJECT_REFUSAL)).toMatchObject({
      ok: false,
      message: 'no refusal condition on the Application',
    })
    expect(refusedByProject(undefined, PROJECT_REFUSAL).ok).toBe(false)
  })

  it('the root App of Apps as step 07 applies it; and one without selfHeal', async () => {
    const root = rootApplication(env, 'file:///gitops-repos/platform')
    expect((await rootApplicationExists(new FakeKube([root]), env)).ok).toBe(true)
    const lax = clone(root)
    ;(lax.spec as { syncPolicy: { automated: { selfHeal: boolean } } }).syncPolicy.automated.selfHeal = false
    expect((await rootApplicationExists(new FakeKube([lax]), env)).ok).toBe(false)
  })
})

describe('Secrets', () => {
  it('a Secret with the right value, a wrong one, and none: never printing either value', async () => {
    const kube = new FakeKube([
      opaqueSecret('demo-credentials', 'platform-system', {
        username: 'demo',
        password: 'recorded-demo-password',
      }),
    ])
    expect(
      await secretHolds(kube, 'platform-system', 'demo-credentials', 'password', 'recorded-demo-password'),
    ).toMatchObject({ ok: true, message: 'password holds the expected value' })
    const wrong = await secretHolds(
      kube,
      'platform-system',
      'demo-credentials',
      'password',
      'another-value-entirely',
    )
    expect(wrong).toMatchObject({ ok: false, message: 'password holds a different value' })
    expect(JSON.stringify(wrong)).not.toMatch(/recorded-demo-password|another-value-entirely/)
    expect((await secretHolds(kube, 'platform-system', 'absent', 'password', 'x')).message).toBe(
      'does not exist',
    )
  })

  it('ksops-age-key: the cluster key, another key, and missing', async () => {
    const kube = new FakeKube([ageKeySecret('argocd', AGE_KEY)])
    expect((await ageKeySecretHolds(kube, env, AGE_KEY)).ok).toBe(true)
    const other = await ageKeySecretHolds(
      kube,
      env,
      'AGE-SECRET-KEY-1ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ',
    )
    expect(other.ok).toBe(false)
    expect(other.message).not.toContain('AGE-SECRET-KEY')
    expect((await ageKeySecretHolds(new FakeKube(), env, AGE_KEY)).message).toBe(
      'Secret argocd/ksops-age-key does not exist',
    )
  })

  it('bootstrap Secrets: with Prune=false and their values; missing Prune=false, a wrong value and a missing Secret are each named', async () => {
    const good = env.bootstrapSecrets.map((spec) => bootstrapSecret(spec, BOOTSTRAP))
    expect(await bootstrapSecretsExist(new FakeKube(good), env, BOOTSTRAP)).toMatchObject({
      ok: true,
      message: '2 bootstrap Secrets with Prune=false',
    })

    const [unseal, cloudflare] = good as [KObject, KObject]
    const unpruned = clone(unseal)
    ;(unpruned.metadata as { annotations?: Record<string, string> }).annotations = {}
    const verdict = await bootstrapSecretsExist(new FakeKube([unpruned, cloudflare]), env, {
      ...BOOTSTRAP,
      cloudflare_api_token: 'rotated-elsewhere',
    })
    expect(verdict.ok).toBe(false)
    expect(verdict.message).toBe(
      'openbao-unseal-key lacks argocd.argoproj.io/sync-options: Prune=false; cloudflare-api-token.api-token differs from bootstrap field cloudflare_api_token',
    )
    expect((await bootstrapSecretsExist(new FakeKube([cloudflare]), env, BOOTSTRAP)).message).toBe(
      'openbao/openbao-unseal-key missing',
    )
  })

  it('namespaces: every one the environment lists', async () => {
    const ns = (name: string): KObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    expect((await namespacesExist(new FakeKube(env.namespaces.map(ns)), env)).ok).toBe(true)
    expect((await namespacesExist(new FakeKube([ns('argocd')]), env)).message).toBe(
      'missing namespaces: openbao, cert-manager, platform-system',
    )
  })
})

describe('kind-only checks', () => {
  it('the kind cluster among kind’s clusters', () => {
    expect(kindClusterExists(['other', 'platform-dev'], 'platform-dev').ok).toBe(true)
    expect(kindClusterExists([], 'platform-dev')).toMatchObject({
      ok: false,
      message: "not among kind's clusters (none)",
    })
  })

  it('nodes: all Ready, one NotReady, none', async () => {
    expect(await nodesReady(new FakeKube([node('cp', true), node('w1', true)]))).toMatchObject({
      ok: true,
      message: '2 nodes Ready',
    })
    expect(await nodesReady(new FakeKube([node('cp', true), node('w1', false)]))).toMatchObject({
      ok: false,
      message: 'not Ready: w1',
    })
    expect((await nodesReady(new FakeKube())).ok).toBe(false)
  })

  it('OpenBao seal status: unsealed, sealed, uninitialised, no answer', () => {
    expect(openbaoUnsealed({ type: 'static', initialized: true, sealed: false, t: 1, n: 1 })).toMatchObject({
      ok: true,
      message: 'unsealed (seal type static)',
    })
    expect(
      openbaoUnsealed({ type: 'static', initialized: true, sealed: true }, 'after its pod was deleted'),
    ).toMatchObject({
      name: 'OpenBao initialised and unsealed after its pod was deleted',
      ok: false,
      message: 'initialized=true, sealed=true',
    })
    expect(openbaoUnsealed({ initialized: false, sealed: true }).ok).toBe(false)
    expect(openbaoUnsealed(undefined).message).toBe('no seal status')
  })

  it('the OpenBao pod replaced: a new uid Running; the old one, or none, is not', () => {
    const before = pod('openbao', 'openbao-0', runningReady('openbao'), {}, 'uid-a')
    expect(podReplaced(before, pod('openbao', 'openbao-0', { phase: 'Running' }, {}, 'uid-b')).ok).toBe(true)
    expect(podReplaced(before, before).message).toBe('found openbao-0 Running, still the deleted one')
    expect(podReplaced(before, pod('openbao', 'openbao-0', { phase: 'Pending' }, {}, 'uid-b')).ok).toBe(false)
    expect(podReplaced(before, undefined).message).toBe('no pod came back')
  })

  const probe = (state: Record<string, unknown>, phase: string) =>
    pod('monitoring', 'e2e-pattern-a-probe-1', {
      phase,
      containerStatuses: [{ name: 'probe', ready: false, restartCount: 0, state }],
    })

  it('pattern A probe: the digest of the mounted file matches OpenBao’s value, which never appears', () => {
    const value = 'recorded-grafana-admin-password'
    const good = mountedFileHolds(
      probe(
        { terminated: { exitCode: 0, reason: 'Completed', message: `${digestOf(value)}\n` } },
        'Succeeded',
      ),
      '/mnt/secrets/ADMIN_PASSWORD',
      value,
    )
    expect(good).toMatchObject({ ok: true, message: 'holds the value written to OpenBao' })
    const other = mountedFileHolds(
      probe({ terminated: { exitCode: 0, message: digestOf('something else') } }, 'Succeeded'),
      '/mnt/secrets/ADMIN_PASSWORD',
      value,
    )
    expect(other).toMatchObject({ ok: false, message: 'holds a different value than OpenBao' })
    expect(JSON.stringify([good, other])).not.toContain(value)
  })

  it('pattern A probe: a file it could not read, a probe still running, and none', () => {
    expect(
      mountedFileHolds(
        probe({ terminated: { exitCode: 3, reason: 'Error' } }, 'Failed'),
        '/mnt/secrets/X',
        'v',
      ).message,
    ).toBe('the probe could not read it: exit 3 Error')
    expect(
      mountedFileHolds(probe({ waiting: { reason: 'ContainerCreating' } }, 'Pending'), '/mnt/secrets/X', 'v')
        .message,
    ).toBe('the probe did not finish (phase Pending)')
    expect(mountedFileHolds(undefined, '/mnt/secrets/X', 'v').message).toBe('the probe pod does not exist')
  })

  it('OpenBao values across a recreate: the same, changed, missing, and nothing read (names only, never values)', () => {
    const first = {
      grafana: { 'admin-password': 'recorded-one' },
      harbor: { 'admin-password': 'recorded-two', 'cloudflare-api-token': 'recorded-three' },
    }
    expect(openbaoValuesKept(first, clone(first))).toMatchObject({
      ok: true,
      message: '3 values the same as before',
    })
    const changed = openbaoValuesKept(first, {
      grafana: { 'admin-password': 'recorded-new' },
      harbor: { 'admin-password': 'recorded-two' },
    })
    expect(changed).toMatchObject({
      ok: false,
      message: 'grafana/admin-password changed; harbor/cloudflare-api-token missing',
    })
    expect(JSON.stringify(changed)).not.toMatch(/recorded-/)
    expect(openbaoValuesKept({}, {}).ok).toBe(false)
  })

  it('failed() keeps the failing verdicts', async () => {
    const verdicts = [kindClusterExists(['a'], 'a'), kindClusterExists([], 'b')]
    expect(failed(verdicts).map((v) => v.name)).toEqual(['kind cluster b'])
  })
})

// ---------------------------------------------------------------------------------------------

describe('report and diagnostics', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-e2e-report-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('records each step and assertion with its duration and result; a throw is a failure, masked', async () => {
    let now = Date.UTC(2026, 0, 1)
    const redactor = new Redactor()
    redactor.add('recorded-leaky-value')
    const lines: string[] = []
    const report = new E2EReport({
      env: 'dev',
      now: () => now,
      mask: (t) => redactor.mask(t),
      log: (l) => lines.push(l),
    })
    await report.measure(1, 'step', 'create', async () => {
      now += 1500
      return { name: 'create', ok: true, message: 'exit 0' }
    })
    await report.measure(1, 'assertion', 'OpenBao values readable', async () => {
      now += 250
      throw new Error('secret/data/grafana answered 403 for recorded-leaky-value')
    })
    expect(report.entries).toEqual([
      { round: 1, type: 'step', name: 'create', ok: true, ms: 1500, message: 'exit 0' },
      {
        round: 1,
        type: 'assertion',
        name: 'OpenBao values readable',
        ok: false,
        ms: 250,
        message: `secret/data/grafana answered 403 for ${MASK}`,
      },
    ])
    expect(lines[1]).toBe(
      `  ✗ [round 1] assertion OpenBao values readable (0.3 s): secret/data/grafana answered 403 for ${MASK}`,
    )
    const file = await report.write(dir, 1, join(dir, 'diagnostics'))
    const doc = JSON.parse(readFileSync(file, 'utf8')) as ReportDocument
    expect(doc).toMatchObject({ env: 'dev', ok: false, exitCode: 1, ms: 1750, diagnostics: 'diagnostics' })
    expect(doc.failures).toEqual([
      `round 1 OpenBao values readable: secret/data/grafana answered 403 for ${MASK}`,
    ])
  })

  it('every Secret value is collected for masking, except keys that hold none and Helm’s release records', () => {
    const values = secretValues([
      opaqueSecret('repo-platform', 'argocd', {
        type: 'git',
        url: 'https://example.org/r.git',
        username: 'bot',
        password: 'recorded-repo-password',
      }),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'sh.helm.release.v1.argocd.v1', namespace: 'argocd' },
        type: 'helm.sh/release.v1',
        data: { release: 'SDRzSUFBQUFBQUFBLzg=' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'argocd-secret', namespace: 'argocd' },
        data: { 'server.secretkey': Buffer.from('recorded-server-key').toString('base64') },
      },
    ])
    expect(values).toEqual(['recorded-repo-password', 'recorded-server-key'])
  })

  it('describes Applications: state, conditions, operation, and only the resources not Synced/Healthy', () => {
    const text = describeApplications([
      application('secret-consumers', {
        ...DEGRADED,
        conditions: [{ type: 'SyncError', message: 'one or more objects failed to apply' }],
      }),
      application('e2e-foreign-repo', refusedStatus(REPO_REFUSED)),
    ])
    expect(text).toBe(
      [
        'secret-consumers: Synced/Degraded (Deployment "grafana" exceeded its progress deadline)',
        '  condition SyncError: one or more objects failed to apply',
        '  resource Deployment/monitoring/grafana: Synced Degraded (Deployment "grafana" exceeded its progress deadline)',
        'e2e-foreign-repo: Unknown/Unknown',
        `  condition InvalidSpecError: ${REPO_REFUSED}`,
        '',
      ].join('\n'),
    )
  })

  it('describes events oldest first', () => {
    const event = (name: string, at: string, reason: string, message: string): KObject => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: 'openbao' },
      type: 'Warning',
      lastTimestamp: at,
      reason,
      message,
      involvedObject: { kind: 'Pod', namespace: 'openbao', name: 'openbao-0' },
    })
    expect(
      describeEvents([
        event('b', '2026-01-01T00:00:02Z', 'BackOff', 'Back-off restarting'),
        event('a', '2026-01-01T00:00:01Z', 'Unhealthy', 'Readiness probe failed: 503'),
      ]),
    ).toBe(
      '2026-01-01T00:00:01Z Warning Pod/openbao/openbao-0 Unhealthy: Readiness probe failed: 503\n2026-01-01T00:00:02Z Warning Pod/openbao/openbao-0 BackOff: Back-off restarting\n',
    )
  })

  it('finds the failing pods: crash-looping, unready, pending; not the healthy or finished ones', () => {
    const pods = [
      pod('openbao', 'openbao-0', runningReady('openbao')),
      pod('monitoring', 'grafana-7d9', {
        phase: 'Running',
        containerStatuses: [{ name: 'grafana', ready: false, restartCount: 0, state: { running: {} } }],
      }),
      pod('kube-system', 'csi-secrets-store-x', {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'secrets-store',
            ready: false,
            restartCount: 4,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
          },
        ],
      }),
      pod('harbor', 'harbor-5c', { phase: 'Pending', reason: 'Unschedulable', containerStatuses: [] }),
      pod('monitoring', 'e2e-pattern-a-probe-1', { phase: 'Succeeded' }),
    ]
    expect(failingPods(pods)).toEqual([
      {
        namespace: 'monitoring',
        name: 'grafana-7d9',
        phase: 'Running',
        containers: [{ name: 'grafana', restarted: false }],
        why: 'grafana running',
      },
      {
        namespace: 'kube-system',
        name: 'csi-secrets-store-x',
        phase: 'Running',
        containers: [{ name: 'secrets-store', restarted: true }],
        why: 'secrets-store waiting CrashLoopBackOff restarts 4',
      },
      { namespace: 'harbor', name: 'harbor-5c', phase: 'Pending', containers: [], why: 'Unschedulable' },
    ])
  })

  it('diagnostics: conditions, events, failing pods’ logs (the previous one too), step outputs; every secret value masked', async () => {
    const hidden = 'recorded-server-key-never-seen-by-the-harness'
    const known = 'recorded-cloudflare-token-known'
    const redactor = new Redactor()
    redactor.add(known)
    const kube = new FakeKube([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'argocd-secret', namespace: 'argocd' },
        data: { 'server.secretkey': Buffer.from(hidden).toString('base64') },
      },
      application('openbao', {
        sync: { status: 'OutOfSync' },
        health: { status: 'Progressing' },
        conditions: [{ type: 'ComparisonError', message: `failed with ${known}` }],
      }),
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'e1', namespace: 'openbao' },
        type: 'Warning',
        reason: 'Failed',
        message: `token ${hidden}`,
        involvedObject: { kind: 'Pod', namespace: 'openbao', name: 'openbao-0' },
      },
      pod('openbao', 'openbao-0', {
        phase: 'Running',
        containerStatuses: [{ name: 'openbao', ready: false, restartCount: 2, state: { running: {} } }],
      }),
    ])
    const asked: string[] = []
    const out = join(dir, 'diag')
    const written = await collectDiagnostics(
      out,
      {
        kube,
        podLog: async (namespace, name, container, previous) => {
          asked.push(`${namespace}/${name}/${container}${previous ? ' previous' : ''}`)
          if (previous) throw new Error('previous terminated container "openbao" not found')
          return `starting\nusing key ${hidden}\nand ${Buffer.from(known).toString('base64')}\n`
        },
      },
      redactor,
      { 'round-1-create': `[06] argocd\nhelm failed: ${known}\n` },
    )
    expect(asked).toEqual(['openbao/openbao-0/openbao', 'openbao/openbao-0/openbao previous'])
    const names = written.map((file) => file.slice(out.length + 1)).sort()
    expect(names).toEqual([
      'applications.json',
      'applications.txt',
      'errors.txt',
      'events.txt',
      'logs/openbao.openbao-0.openbao.log',
      'pods.txt',
      'steps/round-1-create.log',
    ])
    const texts = names.map((name) => readFileSync(join(out, name), 'utf8'))
    for (const text of texts) {
      expect(text).not.toContain(hidden)
      expect(text).not.toContain(known)
      expect(text).not.toContain(Buffer.from(known).toString('base64'))
    }
    expect(readFileSync(join(out, 'applications.txt'), 'utf8')).toContain(
      `condition ComparisonError: failed with ${MASK}`,
    )
    expect(readFileSync(join(out, 'logs/openbao.openbao-0.openbao.log'), 'utf8')).toBe(
      `starting\nusing key ${MASK}\nand ${MASK}\n`,
    )
    expect(readFileSync(join(out, 'errors.txt'), 'utf8')).toContain(
      'previous log of logs/openbao.openbao-0.openbao: previous terminated container',
    )
  })

  it('diagnostics without a cluster: the step outputs and why nothing else', async () => {
    const out = join(dir, 'no-cluster')
    await collectDiagnostics(out, undefined, new Redactor(), { 'round-1-create': 'kind create failed' })
    expect(readFileSync(join(out, 'errors.txt'), 'utf8')).toMatch(/no cluster to read from/)
    expect(readFileSync(join(out, 'steps/round-1-create.log'), 'utf8')).toBe('kind create failed')
  })
})

// ---------------------------------------------------------------------------------------------

describe('what the harness reads from the checkout', () => {
  it('the Applications dev runs: the root and everything its include selects, runtime secrets too', () => {
    expect(expectedApplications(env).sort()).toEqual(
      [
        'cluster-secrets',
        'openbao',
        'platform-config',
        'root',
        'secret-consumers',
        'secrets-store-csi-driver',
        'tenant-a',
        'tenant-onboarding',
      ].sort(),
    )
    expect(expectedApplications(loadConfig('local'))).not.toContain('openbao')
  })

  it('patterns A and B from gitops/runtime-secrets/consumers', () => {
    expect(consumersOf()).toEqual({
      patternA: {
        namespace: 'monitoring',
        serviceAccount: 'grafana',
        secretProviderClass: 'grafana',
        image: 'busybox:1.37.0',
        mountPath: '/mnt/secrets',
        objectName: 'ADMIN_PASSWORD',
        app: 'grafana',
        field: 'admin-password',
      },
      patternB: {
        namespace: 'harbor',
        secretName: 'harbor-admin',
        key: 'HARBOR_ADMIN_PASSWORD',
        app: 'harbor',
        field: 'admin-password',
      },
    })
  })

  it('the probe pod and the refused Applications are valid objects', () => {
    const probe = probePod(consumersOf(), 'e2e-pattern-a-probe-1')
    expect(() => new Pod(probe as ConstructorParameters<typeof Pod>[0]).validate()).not.toThrow()
    expect(JSON.stringify(probe)).toContain('/dev/termination-log')
    const app = refusalApplication(
      'e2e-tenant-escape',
      'argocd',
      'tenant-a',
      'file:///gitops-repos/tenant-tenant-a',
      'kube-system',
    )
    expect(() =>
      new Application(app as ConstructorParameters<typeof Application>[0]).validate(),
    ).not.toThrow()
    expect(app.spec).not.toHaveProperty('syncPolicy')
  })
})

// ---------------------------------------------------------------------------------------------
// The harness, both rounds, against a simulated kind cluster: the API objects Argo CD, the CSI
// driver and OpenBao would leave behind, reacting as they would to what the harness does.

interface SimOptions {
  createFails?: boolean
  degraded?: boolean
  valuesChangeInRound2?: boolean
  keyChangesInRound2?: boolean
  staysSealedAfterRestart?: boolean
  /** A runbook that writes its Helm release on every create. */
  helmRewrites?: boolean
  /** A destroy that loses what was written to OpenBao by hand (no snapshot). */
  snapshotLost?: boolean
}

type Values = Record<string, Record<string, string>>

class SimKind {
  readonly kube = new FakeKube()
  readonly calls: StepName[] = []
  helmRevision: number | undefined
  readonly redactor = new Redactor()
  readonly tag = randomBytes(4).toString('hex')
  readonly hidden = `planted-argocd-server-key-${this.tag}`
  clusters: string[] = []
  round = 0
  sealed = false
  openbaoPodDeletions = 0
  now = Date.UTC(2026, 0, 1)

  constructor(
    private readonly env: EnvConfig,
    private readonly options: SimOptions = {},
  ) {
    this.kube.onApply = (object) => this.react(object)
    this.kube.onDelete = (object) => {
      if (object.kind === 'Pod' && object.metadata.name === 'openbao-0') {
        this.openbaoPodDeletions++
        this.sealed = !!this.options.staysSealedAfterRestart
        this.kube.put(
          pod(
            'openbao',
            'openbao-0',
            runningReady('openbao'),
            { 'app.kubernetes.io/name': 'openbao' },
            `openbao-uid-${this.round}-${this.openbaoPodDeletions}`,
          ),
        )
      }
    }
  }

  private changed(round: boolean | undefined) {
    return round && this.round >= 2 ? 'r2' : 'r1'
  }

  identity(): string {
    return `AGE-SECRET-KEY-1PLANTED${this.changed(this.options.keyChangesInRound2).toUpperCase()}${this.tag.toUpperCase()}QQQQQQQQQQQQQQQQQQQQQQQQQQQQ`
  }

  bootstrap(): Record<string, string> {
    return {
      age_cluster_private_key: this.identity(),
      github_token_platform: `planted-platform-token-${this.tag}`,
      github_token_tenant: `planted-tenant-token-${this.tag}`,
      openbao_unseal_key: `planted-unseal-key-${this.tag}`,
      cloudflare_api_token: `planted-cloudflare-${this.tag}`,
    }
  }

  values(): Values {
    const r = this.changed(this.options.valuesChangeInRound2)
    return {
      grafana: { 'admin-password': `planted-grafana-${r}-${this.tag}` },
      harbor: {
        'admin-password': `planted-harbor-${r}-${this.tag}`,
        'cloudflare-api-token': `planted-cloudflare-${this.tag}`,
      },
    }
  }

  adminToken(): string {
    return `planted-admin-token-${this.round}-${this.tag}`
  }

  demoPassword(): string {
    return `planted-demo-${this.tag}`
  }

  /** Every planted value: none may appear in anything the harness writes. */
  planted(): string[] {
    const values: string[] = [this.hidden, this.demoPassword(), ...Object.values(this.bootstrap())]
    for (const round of [1, 2]) {
      const saved = this.round
      this.round = round
      values.push(
        this.identity(),
        this.adminToken(),
        ...Object.values(this.values()).flatMap((fields) => Object.values(fields)),
      )
      this.round = saved
    }
    values.push(...Object.values(this.written).flatMap((fields) => Object.values(fields)))
    return values
  }

  private react(object: KObject): KObject {
    if (object.kind === 'Application') {
      const spec = object.spec as {
        project: string
        source: { repoURL: string }
        destination: { namespace: string }
      }
      const projects = this.kube.all('AppProject')
      const project = projects.find((p) => p.metadata.name === spec.project)?.spec as {
        sourceRepos: string[]
        destinations: { namespace: string }[]
      }
      if (!project.sourceRepos.includes(spec.source.repoURL))
        return {
          ...object,
          status: refusedStatus(
            `application repo ${spec.source.repoURL} is not permitted in project '${spec.project}'`,
          ),
        }
      if (
        !project.destinations.some((d) => d.namespace === '*' || d.namespace === spec.destination.namespace)
      )
        return {
          ...object,
          status: refusedStatus(
            `application destination server 'https://kubernetes.default.svc' and namespace '${spec.destination.namespace}' do not match any of the allowed destinations in project '${spec.project}'`,
          ),
        }
      return { ...object, status: SYNCED }
    }
    if (object.kind === 'Pod') {
      // The CSI driver mounts grafana's value only for grafana's ServiceAccount and SecretProviderClass.
      const spec = object.spec as {
        serviceAccountName: string
        volumes: { csi?: { volumeAttributes: { secretProviderClass: string } } }[]
      }
      const mounted =
        spec.serviceAccountName === 'grafana' &&
        spec.volumes.some((v) => v.csi?.volumeAttributes.secretProviderClass === 'grafana')
      const terminated = mounted
        ? {
            exitCode: 0,
            reason: 'Completed',
            message: `${digestOf(this.current('grafana')?.['admin-password'] ?? '')}\n`,
          }
        : { exitCode: 3, reason: 'Error' }
      return {
        ...object,
        status: {
          phase: mounted ? 'Succeeded' : 'Failed',
          containerStatuses: [{ name: 'probe', ready: false, restartCount: 0, state: { terminated } }],
        },
      }
    }
    return object
  }

  private create(): void {
    // A create on the cluster that is there (the second create of a round) starts no new round.
    if (!this.clusters.includes(this.env.cluster.name)) this.round++
    this.sealed = false
    this.clusters = [this.env.cluster.name]
    const put = (object: KObject) => this.kube.put(object)
    put(node(`${this.env.cluster.name}-control-plane`, true))
    for (const name of [...this.env.namespaces, 'monitoring', 'harbor', 'tenant-a', 'kube-system'])
      put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    for (const name of expectedApplications(this.env)) {
      const status =
        this.options.degraded && name === 'openbao'
          ? {
              sync: { status: 'OutOfSync' },
              health: { status: 'Progressing', message: 'Waiting for rollout' },
              operationState: {
                phase: 'Running',
                message: 'waiting for healthy state of apps/StatefulSet/openbao',
              },
            }
          : SYNCED
      put(
        name === 'root'
          ? { ...rootApplication(this.env, 'file:///gitops-repos/platform'), status }
          : application(name, status),
      )
    }
    put({
      apiVersion: ARGO,
      kind: 'AppProject',
      metadata: { name: 'default', namespace: 'argocd' },
      spec: { sourceRepos: ['file:///gitops-repos/platform'], destinations: [{ namespace: '*' }] },
    })
    put({
      apiVersion: ARGO,
      kind: 'AppProject',
      metadata: { name: 'tenant-a', namespace: 'argocd' },
      spec: {
        sourceRepos: ['file:///gitops-repos/tenant-tenant-a'],
        destinations: [{ namespace: 'tenant-a' }],
      },
    })
    put(ageKeySecret('argocd', this.identity()))
    for (const spec of this.env.bootstrapSecrets) put(bootstrapSecret(spec, this.bootstrap()))
    put(
      opaqueSecret('demo-credentials', 'platform-system', {
        username: 'demo',
        password: this.demoPassword(),
      }),
    )
    put(opaqueSecret('argocd-secret', 'argocd', { 'server.secretkey': this.hidden }))
    put(
      pod(
        'openbao',
        'openbao-0',
        runningReady('openbao'),
        { 'app.kubernetes.io/name': 'openbao' },
        `openbao-uid-${this.round}-0`,
      ),
    )
    if (this.options.degraded) {
      put(
        pod('kube-system', 'csi-secrets-store-x', {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'secrets-store',
              ready: false,
              restartCount: 3,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
            },
          ],
        }),
      )
      put({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'csi.1', namespace: 'kube-system' },
        type: 'Warning',
        reason: 'BackOff',
        message: `restarting with ${this.bootstrap().cloudflare_api_token}`,
        involvedObject: { kind: 'Pod', namespace: 'kube-system', name: 'csi-secrets-store-x' },
        lastTimestamp: '2026-01-01T00:00:00Z',
      })
    }
  }

  async cli(step: StepName) {
    this.calls.push(step)
    if (step === 'destroy') {
      this.kube.clear()
      this.clusters = []
      this.helmRevision = undefined
      if (this.options.snapshotLost) this.written = {}
      return { code: 0, output: `[destroy] cluster\n    kind cluster ${this.env.cluster.name}: deleted\n` }
    }
    if (step === 'create') {
      // The runbook writes its Helm release only when it differs (the option: a runbook that always does).
      this.helmRevision =
        this.helmRevision === undefined ? 1 : this.helmRevision + (this.options.helmRewrites ? 1 : 0)
      this.create()
      if (this.options.createFails)
        return {
          code: 1,
          output: `[06] argocd\n  ✗ step 06-argocd failed: helm upgrade failed (exit 1): token ${this.bootstrap().github_token_platform}\n`,
        }
      return { code: 0, output: '[00] cluster … [08] converge\n' }
    }
    const harbor = this.current('harbor')?.['admin-password'] ?? ''
    this.kube.put(opaqueSecret('harbor-admin', 'harbor', { HARBOR_ADMIN_PASSWORD: harbor }))
    return { code: 0, output: '[09] openbao-setup\n    changed 0\n' }
  }

  /** What was written to OpenBao by hand: a destroy keeps it (the snapshot), unless the sim loses it. */
  private written: Values = {}

  /** An app's values as OpenBao serves them now: written by hand, else as setup made them. */
  private current(app: string): Record<string, string> | undefined {
    return this.written[app] ?? this.values()[app]
  }

  private call = async (request: BaoRequest): Promise<BaoResponse> => {
    if (request.path === 'sys/seal-status')
      return { status: 200, body: { type: 'static', initialized: true, sealed: this.sealed } }
    const app = request.path.replace(/^secret\/data\//, '')
    if (request.method === 'POST') {
      if (request.token !== this.adminToken()) return { status: 403, body: { errors: ['permission denied'] } }
      this.written[app] = { ...(request.body as { data: Record<string, string> }).data }
      return { status: 200, body: { data: { version: 2 } } }
    }
    const values = this.current(app)
    if (request.token !== this.adminToken() || !values)
      return { status: 403, body: { errors: ['permission denied'] } }
    return { status: 200, body: { data: { data: values, metadata: { version: 1 } } } }
  }

  deps(reportDir: string, log: string[]): HarnessDeps {
    // As lib/sops does for the real harness: whatever it decrypts is registered with the redactor.
    const registered = <T extends Record<string, string>>(values: T) => {
      this.redactor.addAll(Object.values(values))
      return values
    }
    const cluster: Cluster = {
      kube: this.kube,
      openbao: async () => ({ call: this.call, close: async () => {} }),
      podLog: async (namespace, name) =>
        `${namespace}/${name}: could not start: key ${this.hidden} refused\n`,
    }
    return {
      env: this.env,
      redactor: this.redactor,
      cli: (step) => this.cli(step),
      kindClusters: async () => [...this.clusters],
      connect: async () => cluster,
      bootstrapValues: async () => registered(this.bootstrap()),
      adminToken: async () => registered({ admin_token: this.adminToken() }).admin_token,
      overlaySecrets: async () => [
        {
          file: './secrets/demo-credentials.secret.yaml',
          namespace: 'platform-system',
          name: 'demo-credentials',
          data: registered({ username: 'demo', password: this.demoPassword() }),
        },
      ],
      helmRevision: async () => this.helmRevision,
      expectedApps: expectedApplications(this.env),
      consumers: consumersOf(),
      openbao: true,
      reportDir,
      now: () => this.now,
      sleep: async (ms) => {
        this.now += ms
      },
      log: (line) => log.push(line),
    }
  }
}

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((rel) => join(dir, rel))
    .filter((file) => statSync(file).isFile())
}

describe('the harness over a simulated kind cluster', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pb-e2e-harness-'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  const runSim = async (name: string, options: SimOptions = {}) => {
    const sim = new SimKind(env, options)
    const log: string[] = []
    const reportDir = join(root, name)
    const code = await runE2E(sim.deps(reportDir, log))
    const doc = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as ReportDocument
    return { sim, code, doc, log, reportDir }
  }

  /** No planted value, in any form the redactor knows, in any file the run wrote. */
  const expectNoLeak = (sim: SimKind, reportDir: string) => {
    const files = filesUnder(reportDir)
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      for (const value of sim.planted()) {
        expect(text.includes(value), `${value} in ${file}`).toBe(false)
        expect(text.includes(Buffer.from(value).toString('base64')), `base64 of ${value} in ${file}`).toBe(
          false,
        )
      }
    }
  }

  it('all holds: destroy → create → openbao-setup twice, every assertion passes, and nothing is left behind', async () => {
    const { sim, code, doc, log, reportDir } = await runSim('passing')
    expect(doc.failures).toEqual([])
    expect(code).toBe(0)
    expect(sim.calls).toEqual([
      ...['destroy', 'create', 'openbao-setup', 'create'],
      ...['destroy', 'create', 'openbao-setup', 'create'],
    ])
    expect(doc).toMatchObject({ env: 'dev', ok: true, exitCode: 0 })
    expect(doc.diagnostics).toBeUndefined()
    expect(existsSync(join(reportDir, 'diagnostics'))).toBe(false)

    const names = (round: number) =>
      doc.entries.filter((e) => e.round === round).map((e) => `${e.type} ${e.name}`)
    const round1 = [
      'step destroy',
      'step create',
      'step openbao-setup',
      'assertion the kind kubeconfig',
      'assertion kind cluster exists',
      'assertion every node Ready',
      'assertion every Application Synced/Healthy within 900 s (converge.timeoutSeconds)',
      'assertion namespaces',
      'assertion root Application',
      'assertion ksops-age-key holds the cluster age key',
      'assertion bootstrap Secrets with Prune=false',
      'assertion a SOPS-encrypted Secret of gitops/overlays/dev decrypted by KSOPS',
      'assertion OpenBao initialised and unsealed',
      'assertion OpenBao values readable with the admin token',
      'assertion pattern A: a probe pod reads secret/data/grafana admin-password from /mnt/secrets/ADMIN_PASSWORD',
      'assertion pattern B: Secret harbor/harbor-admin holds secret/data/harbor admin-password',
      'assertion the tenant AppProject refuses an Application targeting kube-system',
      'assertion the default AppProject refuses an Application from another repository',
      'assertion the OpenBao pod, deleted, is replaced',
      'assertion OpenBao unsealed itself after its pod was deleted',
      'assertion a value written by hand, and a generated one changed, before the recreate',
      'assertion a second create writes nothing: no new Argo CD Helm revision, no resourceVersion moved',
    ]
    expect(names(1)).toEqual(round1)
    expect(names(2)).toEqual([
      ...round1.slice(0, 10),
      'assertion ksops-age-key holds the same cluster age key as round 1',
      ...round1.slice(10, -2),
      'assertion OpenBao holds the same values as round 1',
      'assertion the value written by hand in round 1 came back with the snapshot',
      round1.at(-1),
    ])
    expect(ROUNDS).toBe(2)
    for (const entry of doc.entries) {
      expect(entry.ok, `${entry.name}: ${entry.message}`).toBe(true)
      expect(typeof entry.ms).toBe('number')
    }
    const message = (round: number, name: string) =>
      doc.entries.find((e) => e.round === round && e.name.startsWith(name))?.message
    expect(message(1, 'the tenant AppProject')).toContain(
      "namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-a'",
    )
    expect(message(1, 'the default AppProject')).toContain(
      'application repo https://github.com/someone-else/anything.git is not permitted',
    )
    expect(message(2, 'OpenBao holds the same values')).toBe('3 values the same as before')

    expect(sim.openbaoPodDeletions).toBe(2)
    expect(await sim.kube.list('v1', 'Pod', 'monitoring')).toEqual([])
    expect(
      (await sim.kube.list(ARGO, 'Application', 'argocd'))
        .map((a) => a.metadata.name)
        .filter((n) => n.startsWith('e2e-')),
    ).toEqual([])
    expect(log.at(-1)).toMatch(/^\ne2e passed: report .*report\.json$/)
    expectNoLeak(sim, reportDir)
  })

  it('a second create that writes the Argo CD release again fails the run, naming the revisions', async () => {
    const { code, doc } = await runSim('helm-rewrites', { helmRewrites: true })
    expect(code).toBe(1)
    expect(doc.failures.join('\n')).toMatch(
      /a second create writes nothing: no new Argo CD Helm revision, no resourceVersion moved: revision 1 became 2/,
    )
  })

  it('OpenBao values not the same after the recreate: the run fails naming the fields, never the values', async () => {
    const { sim, code, doc, reportDir } = await runSim('values-changed', { valuesChangeInRound2: true })
    expect(code).toBe(1)
    // grafana's was changed by hand in round 1, and came back with the snapshot; harbor's was regenerated.
    expect(doc.failures).toEqual([
      'round 2 OpenBao holds the same values as round 1: harbor/admin-password changed',
    ])
    expect(doc.diagnostics).toBe('diagnostics')
    expect(existsSync(join(reportDir, 'diagnostics', 'applications.txt'))).toBe(true)
    expectNoLeak(sim, reportDir)
  })

  it('a destroy that loses what was written by hand (no snapshot): the run fails naming it, never the value', async () => {
    const { sim, code, doc, reportDir } = await runSim('snapshot-lost', { snapshotLost: true })
    expect(code).toBe(1)
    expect(doc.failures).toEqual([
      'round 2 OpenBao holds the same values as round 1: grafana/admin-password changed',
      'round 2 the value written by hand in round 1 came back with the snapshot: e2e-by-hand/note missing',
    ])
    expectNoLeak(sim, reportDir)
  })

  it('another cluster age key after the recreate: the run fails on that alone', async () => {
    const { code, doc } = await runSim('key-changed', { keyChangesInRound2: true })
    expect(code).toBe(1)
    expect(doc.failures).toEqual([
      'round 2 ksops-age-key holds the same cluster age key as round 1: holds a different key than the bootstrap secrets (or no age.agekey)',
    ])
  })

  it('an Application that never converges: fails after the budget from config, with diagnostics and every value masked', async () => {
    const { sim, code, doc, reportDir } = await runSim('degraded', { degraded: true })
    expect(code).toBe(1)
    const convergence = doc.entries.find((e) => e.round === 1 && e.name.startsWith('every Application'))
    expect(convergence).toMatchObject({
      ok: false,
      message:
        'pending: openbao OutOfSync/Progressing (Running: waiting for healthy state of apps/StatefulSet/openbao); absent: - (still so after the 900 s budget)',
    })
    expect(convergence?.ms).toBeGreaterThanOrEqual(900_000)
    const diagnostics = join(reportDir, 'diagnostics')
    expect(readFileSync(join(diagnostics, 'applications.txt'), 'utf8')).toContain(
      'openbao: OutOfSync/Progressing (Waiting for rollout)',
    )
    expect(readFileSync(join(diagnostics, 'pods.txt'), 'utf8')).toContain(
      'kube-system/csi-secrets-store-x Running: secrets-store waiting CrashLoopBackOff restarts 3',
    )
    expect(
      readFileSync(join(diagnostics, 'logs', 'kube-system.csi-secrets-store-x.secrets-store.log'), 'utf8'),
    ).toBe(`kube-system/csi-secrets-store-x: could not start: key ${MASK} refused\n`)
    expect(readFileSync(join(diagnostics, 'events.txt'), 'utf8')).toContain(
      `BackOff: restarting with ${MASK}`,
    )
    expect(readdirSync(join(diagnostics, 'steps')).sort()).toEqual([
      'round-1-create-again.log',
      'round-1-create.log',
      'round-1-destroy.log',
      'round-1-openbao-setup.log',
      'round-2-create-again.log',
      'round-2-create.log',
      'round-2-destroy.log',
      'round-2-openbao-setup.log',
    ])
    expectNoLeak(sim, reportDir)
  })

  it('a failed create: the run stops there, with the step’s output in the diagnostics, masked', async () => {
    const { sim, code, doc, reportDir } = await runSim('create-fails', { createFails: true })
    expect(code).toBe(1)
    expect(sim.calls).toEqual(['destroy', 'create'])
    expect(doc.entries.map((e) => `${e.name} ${e.ok}`)).toEqual(['destroy true', 'create false'])
    expect(doc.failures).toEqual([
      `round 1 create: exit 1: [06] argocd | ✗ step 06-argocd failed: helm upgrade failed (exit 1): token ${MASK}`,
    ])
    expect(readFileSync(join(reportDir, 'diagnostics', 'steps', 'round-1-create.log'), 'utf8')).toContain(
      `token ${MASK}`,
    )
    expectNoLeak(sim, reportDir)
  })

  it('an OpenBao that stays sealed after its pod is deleted fails the self-unseal assertion, the pod replacement passes', async () => {
    const { code, doc } = await runSim('sealed', { staysSealedAfterRestart: true })
    expect(code).toBe(1)
    expect(doc.failures).toEqual([
      'round 1 OpenBao unsealed itself after its pod was deleted: initialized=true, sealed=true (still so after the 900 s budget)',
      'round 2 OpenBao unsealed itself after its pod was deleted: initialized=true, sealed=true (still so after the 900 s budget)',
    ])
  })
})

describe('resourceVersionsKept', () => {
  it('holds when every object the runbook applies kept its resourceVersion; names each one that moved', () => {
    const before = { 'Namespace/argocd': '10', 'Secret/argocd/ksops-age-key': '20' }
    expect(resourceVersionsKept(before, { ...before }).ok).toBe(true)
    const moved = resourceVersionsKept(before, { ...before, 'Secret/argocd/ksops-age-key': '31' })
    expect(moved.ok).toBe(false)
    expect(moved.message).toBe('moved: Secret/argocd/ksops-age-key 20 → 31')
    expect(resourceVersionsKept({}, {}).ok).toBe(false)
  })
})
