import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MASK, Redactor } from '../../../lib/core/redact.ts'
import type { KObject } from '../../../lib/kube/client.ts'
import { ageKeySecret, bootstrapSecret, opaqueSecret, rootApplication } from '../../../lib/kube/manifests.ts'
import type { BaoRequest, BaoResponse } from '../../../lib/openbao/client.ts'
import type { EnvConfig } from '../../../lib/runner/config.ts'
import { digestOf } from '../../assertions/assertions.ts'
import { consumersOf, expectedApplications } from '../../e2e/checkout.ts'
import { type Cluster, type HarnessDeps, ROUNDS, runE2E, type StepName } from '../../e2e/harness.ts'
import type { ReportDocument } from '../../e2e/report.ts'
import {
  ARGO,
  application,
  env,
  FakeKube,
  node,
  pod,
  refusedStatus,
  runningReady,
  SYNCED,
} from './fixtures.ts'

/**
 * The harness itself, round after round, against a simulated kind cluster: its steps, every
 * assertion, the report.
 */

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
