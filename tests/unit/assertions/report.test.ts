import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MASK, Redactor } from '../../../lib/core/redact.ts'
import type { KObject } from '../../../lib/kube/client.ts'
import { opaqueSecret } from '../../../lib/kube/manifests.ts'
import {
  collectDiagnostics,
  describeApplications,
  describeEvents,
  E2EReport,
  failingPods,
  type ReportDocument,
  secretValues,
} from '../../e2e/report.ts'
import {
  application,
  DEGRADED,
  FakeKube,
  pod,
  REPO_REFUSED,
  refusedStatus,
  runningReady,
} from './fixtures.ts'

/**
 * The e2e's report and the diagnostics it collects, with every secret value masked.
 */

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
