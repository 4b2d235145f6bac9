import { describe, expect, it } from 'vitest'
import { recordedApplication } from '../../tests/helpers/applications.ts'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError } from '../core/errors.ts'
import type { KObject, Kube } from '../kube/client.ts'
import { loadConfig } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { pendingReport, waitForConvergence } from './converge.ts'
import { HEALTHY_AFTER_LABEL } from './status.ts'

const app = (name: string, status: Record<string, unknown>): KObject => recordedApplication(name, status)

const healthy = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
const degraded = app('tenant-a', {
  sync: { status: 'OutOfSync' },
  health: { status: 'Degraded', message: 'Deployment hello exceeded its progress deadline' },
  conditions: [{ type: 'SyncError', message: 'one or more objects failed to apply' }],
  resources: [
    {
      kind: 'Deployment',
      name: 'hello',
      namespace: 'tenant-a',
      status: 'OutOfSync',
      health: { status: 'Degraded', message: 'progress deadline' },
    },
  ],
})
const warning = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'e', namespace: 'tenant-a' },
  type: 'Warning',
  reason: 'FailedCreate',
  message: 'quota exceeded',
  involvedObject: { kind: 'ReplicaSet', name: 'hello-1', namespace: 'tenant-a' },
} as unknown as KObject

/** A context whose cluster answers with the given Applications (one list per poll, the last one repeating). */
function contextWith(polls: KObject[][], timeoutSeconds: number, revisions: Record<string, string> = {}) {
  const sink = memorySink()
  let call = 0
  const annotated: string[] = []
  const kube = {
    list: async (_apiVersion: string, kind: string) =>
      kind === 'Event' ? [warning] : (polls[Math.min(call++, polls.length - 1)] ?? []),
    mergePatch: async (ref: { name: string }, patch: Record<string, unknown>) => {
      annotated.push(`${ref.name} ${JSON.stringify(patch)}`)
    },
  } as unknown as Kube
  const env = loadConfig('local')
  const ctx = {
    env: { ...env, converge: { timeoutSeconds } },
    log: new Logger({ sink }),
    kube: async () => kube,
    // A controller running since before any status these tests list, unless a test says otherwise.
    provider: { argocdControllerStartedAt: async () => new Date('2026-01-01T00:00:00Z') },
    source: async () => ({ platformURL: SERVED, tenantURLs: {}, revisions }),
    secrets: async () => ({ values: {}, sources: {}, warnings: [] }),
    run: async () => {
      throw new Error('no command runs here')
    },
  } as unknown as Context
  return { ctx, sink, annotated }
}

const SERVED = 'file:///gitops-repos/platform'
const PUBLISHED = 'a'.repeat(40)
const PREVIOUS = 'b'.repeat(40)
/** An Application from the served platform repository, Synced/Healthy at `revision`. */
const servedApp = (name: string, revision: string, extra: Record<string, unknown> = {}) =>
  ({
    ...app(name, {
      sync: { status: 'Synced', revision },
      health: { status: 'Healthy' },
      reconciledAt: '2026-12-05T10:00:00Z',
      ...extra,
    }),
    spec: { source: { repoURL: SERVED, targetRevision: 'HEAD', path: 'gitops/apps' } },
  }) as KObject

describe('08-converge', () => {
  it('returns once every Application is Synced and Healthy, saying which were pending on the way', async () => {
    const { ctx, sink } = contextWith(
      [
        [healthy, app('tenant-a', { sync: { status: 'OutOfSync' }, health: { status: 'Progressing' } })],
        [healthy, app('tenant-a', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })],
      ],
      30,
    )
    await waitForConvergence(ctx)
    const out = sink.lines.join('\n')
    expect(out).toMatch(/1\/2 converged; pending: tenant-a OutOfSync\/Progressing/)
    expect(out).toMatch(/2 Applications Synced\/Healthy after/)
  })

  it('leaves the Applications labelled healthy-after openbao-setup for step 09, and says so', async () => {
    const consumers = {
      ...app('secret-consumers', { sync: { status: 'Synced' }, health: { status: 'Progressing' } }),
      metadata: {
        name: 'secret-consumers',
        namespace: 'argocd',
        labels: { [HEALTHY_AFTER_LABEL]: 'openbao-setup' },
      },
    } as KObject
    const { ctx, sink } = contextWith([[healthy, consumers]], 1)
    await waitForConvergence(ctx, { leaveFor: 'openbao-setup' })
    const out = sink.lines.join('\n')
    expect(out).toMatch(/1 Applications Synced\/Healthy after/)
    expect(out).toMatch(/left for openbao-setup, which they need first: secret-consumers Synced\/Progressing/)
    // Step 09, once it has run, waits for every one of them.
    const after = contextWith([[healthy, consumers]], 1)
    await expect(waitForConvergence(after.ctx)).rejects.toThrow(/timed out after 1 s/)
    expect(after.sink.lines.join('\n')).toContain('secret-consumers: Synced/Progressing')
  })

  it('on timeout: exits with an error and prints app conditions, failing resources and warning events', async () => {
    const { ctx, sink } = contextWith([[healthy, degraded]], 1)
    const error = await waitForConvergence(ctx).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toMatch(
      /timed out after 1 s waiting for every Application to be Synced and Healthy/,
    )
    const out = sink.lines.join('\n')
    expect(out).toContain('tenant-a: OutOfSync/Degraded (Deployment hello exceeded its progress deadline)')
    expect(out).toContain('condition SyncError: one or more objects failed to apply')
    expect(out).toContain('resource Deployment/tenant-a/hello: OutOfSync Degraded (progress deadline)')
    expect(out).toContain('event ReplicaSet/tenant-a/hello-1: FailedCreate: quota exceeded')
    expect(out).not.toContain('platform-config:')
  })

  it('counts an Application only at the commit this run published: asks Argo CD to refresh it once, then waits', async () => {
    const { ctx, sink, annotated } = contextWith(
      [[servedApp('root', PREVIOUS)], [servedApp('root', PREVIOUS)], [servedApp('root', PUBLISHED)]],
      30,
      { [SERVED]: PUBLISHED },
    )
    await waitForConvergence(ctx)
    expect(annotated).toEqual(['root {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}'])
    expect(sink.lines.join('\n')).toMatch(
      /pending: root Synced\/Healthy — at bbbbbbb, not yet at the published aaaaaaa/,
    )
  })

  it('asks no refresh of an Application Argo CD has not compared yet: it compares a new one at the current commit itself', async () => {
    const created = { ...servedApp('tenant-b', PREVIOUS), status: {} } as KObject
    const { ctx, annotated } = contextWith(
      [
        [servedApp('root', PUBLISHED), created],
        [servedApp('root', PUBLISHED), servedApp('tenant-b', PUBLISHED)],
      ],
      30,
      { [SERVED]: PUBLISHED },
    )
    await waitForConvergence(ctx)
    expect(annotated).toEqual([])
  })

  it('asks for no refresh when every Application is at the published commit (a run with nothing new writes nothing)', async () => {
    const { ctx, annotated } = contextWith([[servedApp('root', PUBLISHED)]], 30, { [SERVED]: PUBLISHED })
    await waitForConvergence(ctx)
    expect(annotated).toEqual([])
  })

  it('terminates a sync still running at the previous commit (an App of Apps waiting on a child gone from git)', async () => {
    const stale = servedApp('root', PREVIOUS, {
      sync: { status: 'OutOfSync', revision: PUBLISHED },
      operationState: {
        phase: 'Running',
        message: 'waiting for healthy state of argoproj.io/Application/fault-refused-destination',
        operation: { sync: { revision: PREVIOUS } },
        syncResult: { revision: PREVIOUS },
      },
    })
    const { ctx, sink, annotated } = contextWith([[stale], [servedApp('root', PUBLISHED)]], 30, {
      [SERVED]: PUBLISHED,
    })
    await waitForConvergence(ctx)
    expect(annotated).toContain('root {"status":{"operationState":{"phase":"Terminating"}}}')
    expect(sink.lines.join('\n')).toMatch(
      /root: its sync of bbbbbbb was still running \(waiting for healthy state of .*\): terminated, so Argo CD syncs the published aaaaaaa/,
    )
  })

  it('does not count an Application whose operation still runs', async () => {
    const running = servedApp('root', PUBLISHED, {
      operationState: { phase: 'Running', message: 'waiting for healthy state' },
    })
    const { ctx } = contextWith([[running]], 1, { [SERVED]: PUBLISHED })
    await expect(waitForConvergence(ctx)).rejects.toThrow(/timed out/)
  })
})

describe('08-converge: errors waiting will not fix (recorded from Argo CD on the local tier)', () => {
  // As the application-controller reported them, retries and all.
  const refused = app('fault-refused-destination', {
    sync: { status: 'Unknown' },
    health: { status: 'Unknown' },
    conditions: [
      {
        type: 'InvalidSpecError',
        message:
          "application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-a'",
      },
    ],
  })
  const rejected = (attempt: number) =>
    app('fault-rejected-manifest', {
      sync: { status: 'OutOfSync' },
      health: { status: 'Missing' },
      operationState: {
        phase: 'Running',
        message: `one or more objects failed to apply, reason: ConfigMap "Not_A_Valid_Name" is invalid: metadata.name: Invalid value: "Not_A_Valid_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'). Retrying attempt #${attempt} at 2026-12-03T17:4${attempt}:30Z.`,
      },
    })

  /** A clock that moves `stepMs` per poll, so the stuck window passes without waiting for it. */
  const clock = (stepMs: number) => {
    let t = 0
    return () => (t += stepMs)
  }

  it('stops once the same deterministic error has shown for the window, one line per Application and the fixes', async () => {
    const { ctx, sink } = contextWith(
      [
        [healthy, refused, rejected(1)],
        [healthy, refused, rejected(2)],
        [healthy, refused, rejected(3)],
      ],
      600,
    )
    const error = (await waitForConvergence(ctx, { now: clock(16_000), stuckAfterMs: 30_000 }).catch(
      (e: unknown) => e,
    )) as BootstrapError
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message.split('\n')).toEqual([
      '2 Applications will not converge by waiting:',
      "    fault-refused-destination: application destination server 'https://kubernetes.default.svc' and namespace 'kube-system' do not match any of the allowed destinations in project 'tenant-a'",
      expect.stringMatching(
        /^ {4}fault-rejected-manifest: one or more objects failed to apply, reason: ConfigMap "Not_A_Valid_Name" is invalid: .*\.\.\.$/,
      ),
    ])
    expect(error.hint).toContain('AppProject refuses it')
    expect(error.hint).toContain('the API server refuses a manifest')
    // The full text is in the diagnostics.
    const diagnostics = sink.lines.filter((line) => line.startsWith('  ✗')).join('\n')
    expect(diagnostics).toMatch(
      /operation Running: one or more objects failed to apply, .* Retrying attempt #\d/,
    )
  })

  it('is never silent: says where it stands every 30 s, and an error on no list once it lingers', async () => {
    const odd = app('cluster-secrets', {
      sync: { status: 'Unknown' },
      health: { status: 'Healthy' },
      conditions: [
        { type: 'ComparisonError', message: 'Failed to load target state: a cause no list names' },
      ],
    })
    const ok = app('cluster-secrets', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
    const { ctx, sink } = contextWith(
      [odd, odd, odd, odd, ok].map((a) => [a]),
      600,
    )
    await waitForConvergence(ctx, { now: clock(10_000), lingerAfterMs: 45_000 })
    const progress = sink.lines.filter((line) => / converged; /.test(line))
    // The first report, then one every 30 s though nothing changed.
    expect(progress.length).toBeGreaterThanOrEqual(3)
    expect(progress.slice(1).every((line) => line.includes('still pending'))).toBe(true)
    const said = sink.lines.filter((line) => line.includes('has shown the same error'))
    expect(said).toHaveLength(1)
    expect(said[0]).toMatch(/cluster-secrets has shown the same error for \d+(\.\d+)?\s?s, still waiting/)
    expect(said[0]).toContain('Failed to load target state: a cause no list names')
  })

  it('after this run changed the cluster, counts only statuses Argo CD computed since: asks each to refresh, waits until it has', async () => {
    const synced = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
    const asked = {
      ...synced,
      metadata: { ...synced.metadata, annotations: { 'argocd.argoproj.io/refresh': 'normal' } },
    }
    const { ctx, sink, annotated } = contextWith([[synced], [asked], [asked], [synced]], 600)
    ctx.changed = new Set(['helm release argocd/argocd (argo-cd 10.1.1)'])
    await waitForConvergence(ctx)
    expect(annotated).toEqual([
      `platform-config {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`,
    ])
    expect(sink.lines.join('\n')).toContain(
      'this run changed helm release argocd/argocd (argo-cd 10.1.1): every Application counts once Argo CD has compared it again',
    )
    expect(sink.lines.join('\n')).toContain('refresh asked for: Argo CD has not compared it again')
  })

  it('a second wait of the same run (09 after 08) asks again only for changes made since the first', async () => {
    const synced = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
    const asked = {
      ...synced,
      metadata: { ...synced.metadata, annotations: { 'argocd.argoproj.io/refresh': 'normal' } },
    }
    const first = contextWith([[synced], [asked], [synced]], 600)
    const changed = new Set(['Namespace/argocd'])
    first.ctx.changed = changed
    await waitForConvergence(first.ctx)
    expect(first.annotated).toHaveLength(1)
    const second = contextWith([[synced]], 600)
    second.ctx.changed = changed
    await waitForConvergence(second.ctx)
    expect(second.annotated).toEqual([])
    changed.add('ClusterRoleBinding/openbao-auth-delegator')
    const third = contextWith([[synced], [asked], [synced]], 600)
    third.ctx.changed = changed
    await waitForConvergence(third.ctx)
    expect(third.annotated).toHaveLength(1)
  })

  it('asks no refresh for changes past refreshFor (09: what OpenBao setup applied), and still for those before', async () => {
    const synced = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
    const asked = {
      ...synced,
      metadata: { ...synced.metadata, annotations: { 'argocd.argoproj.io/refresh': 'normal' } },
    }
    const own = contextWith([[synced]], 600)
    own.ctx.changed = new Set(['ClusterRoleBinding/openbao-auth-delegator'])
    await waitForConvergence(own.ctx, { refreshFor: 0 })
    expect(own.annotated).toEqual([])
    // A run started at 09 after changes 08 never waited for (--from 05, say): those still count.
    const earlier = contextWith([[synced], [asked], [synced]], 600)
    earlier.ctx.changed = new Set([
      'Secret/argocd/repo-platform',
      'ClusterRoleBinding/openbao-auth-delegator',
    ])
    await waitForConvergence(earlier.ctx, { refreshFor: 1 })
    expect(earlier.annotated).toHaveLength(1)
  })

  it('asks a refresh of each Application last compared before the controller now running started, and waits for it', async () => {
    const at = (reconciledAt: string, extra: Record<string, unknown> = {}) =>
      app('tenant-a', { sync: { status: 'Synced' }, health: { status: 'Healthy' }, reconciledAt, ...extra })
    const root = app('root', {
      sync: { status: 'Synced' },
      health: { status: 'Healthy' },
      reconciledAt: '2026-12-06T10:05:00Z',
    })
    const before = at('2026-12-06T10:00:00Z')
    const asked = {
      ...before,
      metadata: { ...before.metadata, annotations: { 'argocd.argoproj.io/refresh': 'normal' } },
    }
    // The predecessor's Synced/Healthy, then what the new controller sees: the Deployment deleted
    // while none ran, and its self-heal.
    const { ctx, sink, annotated } = contextWith(
      [
        [before, root],
        [asked, root],
        [at('2026-12-06T10:06:00Z', { health: { status: 'Missing' }, sync: { status: 'OutOfSync' } }), root],
        [at('2026-12-06T10:06:02Z'), root],
      ],
      600,
    )
    ctx.provider = {
      ...ctx.provider,
      argocdControllerStartedAt: async () => new Date('2026-12-06T10:02:00.250Z'),
    }
    await waitForConvergence(ctx)
    expect(annotated).toEqual([
      `tenant-a {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`,
    ])
    const out = sink.lines.join('\n')
    expect(out).toContain(
      "1 Application was last compared before Argo CD's application controller started (2026-12-06T10:02:00Z): tenant-a; each counts once Argo CD has compared it again",
    )
    expect(out).toMatch(/pending: tenant-a OutOfSync\/Missing/)
  })

  it("reads the controller's start on every poll: one restarting as the wait begins counts from its new start, asked once per start", async () => {
    const synced = (reconciledAt: string, annotations?: Record<string, string>) => {
      const made = app('platform-config', {
        sync: { status: 'Synced' },
        health: { status: 'Healthy' },
        reconciledAt,
      })
      return annotations ? { ...made, metadata: { ...made.metadata, annotations } } : made
    }
    const asked = { 'argocd.argoproj.io/refresh': 'normal' }
    const starts = [
      undefined,
      '2026-12-06T10:02:00Z',
      '2026-12-06T10:02:00Z',
      '2026-12-06T10:02:00Z',
      '2026-12-06T10:02:00Z',
    ]
    const { ctx, annotated } = contextWith(
      [
        // No controller runs yet; then the new one, its request not yet seen; its request still
        // waiting (not asked again); then compared by it.
        [synced('2026-12-06T10:00:00Z')],
        [synced('2026-12-06T10:00:00Z')],
        [synced('2026-12-06T10:00:00Z', asked)],
        [synced('2026-12-06T10:00:00Z', asked)],
        [synced('2026-12-06T10:02:05Z')],
      ],
      600,
    )
    let poll = 0
    ctx.provider = {
      ...ctx.provider,
      argocdControllerStartedAt: async () => {
        const start = starts[Math.min(poll++, starts.length - 1)]
        return start ? new Date(start) : undefined
      },
    }
    await waitForConvergence(ctx)
    expect(annotated).toEqual([
      `platform-config {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`,
    ])
    expect(poll).toBe(5)
  })

  it("asks no refresh when every status is the running controller's", async () => {
    const synced = app('platform-config', {
      sync: { status: 'Synced' },
      health: { status: 'Healthy' },
      reconciledAt: '2026-12-06T10:05:00Z',
    })
    const { ctx, annotated } = contextWith([[synced]], 600)
    ctx.provider = {
      ...ctx.provider,
      argocdControllerStartedAt: async () => new Date('2026-12-06T10:04:59Z'),
    }
    await waitForConvergence(ctx)
    expect(annotated).toEqual([])
  })

  it('counts nothing while no application controller runs, and says so once', async () => {
    const { ctx, sink, annotated } = contextWith([[healthy]], 1)
    ctx.provider = { ...ctx.provider, argocdControllerStartedAt: async () => undefined }
    await expect(waitForConvergence(ctx)).rejects.toThrow(/timed out after 1 s/)
    expect(annotated).toEqual([])
    expect(sink.lines.filter((line) => /application controller is not running/.test(line))).toHaveLength(1)
  })

  it('writes nothing when this run changed nothing', async () => {
    const synced = app('platform-config', { sync: { status: 'Synced' }, health: { status: 'Healthy' } })
    const { ctx, annotated } = contextWith([[synced]], 600)
    ctx.changed = new Set()
    await waitForConvergence(ctx)
    expect(annotated).toEqual([])
  })

  it('keeps waiting on transient errors: a repo-server starting, a CRD not yet there', async () => {
    const starting = app('cluster-secrets', {
      sync: { status: 'Unknown' },
      health: { status: 'Healthy' },
      conditions: [
        {
          type: 'ComparisonError',
          message:
            'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:43447: connect: connection refused"',
        },
      ],
    })
    const noCrd = app('openbao', {
      sync: { status: 'OutOfSync' },
      health: { status: 'Missing' },
      operationState: {
        phase: 'Running',
        message:
          'one or more synchronization tasks are not valid due to application controller sync timeout. Retrying attempt #2 at 2026-12-03T17:40:00Z.: the server could not find the requested resource (SecretProviderClass)',
      },
    })
    const { ctx } = contextWith([[starting, noCrd]], 1)
    const error = (await waitForConvergence(ctx, { now: clock(40_000), stuckAfterMs: 30_000 }).catch(
      (e: unknown) => e,
    )) as Error
    expect(error.message).toMatch(/timed out after 1 s/)
  })
})

describe('pendingReport: a progress line readable at a hundred Applications', () => {
  const verdict = (name: string) =>
    ({ name, sync: 'OutOfSync', health: 'Progressing', converged: false }) as never
  it('names the three pending longest, then how many more; forgets those that converged', () => {
    const since = new Map<string, number>()
    expect(pendingReport(['b', 'a'].map(verdict), since, 0)).toMatch(/^a .*; b /)
    const hundred = Array.from({ length: 100 }, (_, i) => verdict(`team-${String(i).padStart(3, '0')}`))
    const line = pendingReport([...hundred, verdict('b')], since, 1000)
    // b has waited since 0, the hundred since 1000: b first, then the first two of those by name.
    expect(line).toMatch(/^b .*; team-000 .*; team-001 .*; and 98 more$/)
    expect(line.split('; ')).toHaveLength(4)
    pendingReport([verdict('team-050')], since, 2000)
    expect([...since.keys()]).toEqual(['team-050'])
  })
})
