import { describe, expect, it } from 'vitest'
import { recordedApplication } from '../../tests/helpers/applications.ts'
import type { KObject } from '../kube/client.ts'
import { deterministicError, LingeringErrors, StuckErrors } from './app-errors.ts'

const app = (name: string, status: Record<string, unknown>): KObject => recordedApplication(name, status)
const comparisonError = (message: string) =>
  app('cluster-secrets', {
    sync: { status: 'Unknown' },
    health: { status: 'Healthy' },
    conditions: [{ type: 'ComparisonError', message }],
  })

const RENDER =
  'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = Manifest generation error (cached): `kustomize build <path>/gitops/overlays/dev --enable-alpha-plugins --enable-exec` failed exit status 1: Error: failure in plugin configured via /tmp/kust-plugin-config-1: exit status 1:'

describe('deterministicError: recorded Application statuses', () => {
  it.each([
    [
      'decryption',
      `${RENDER} trouble decrypting file Error getting data key: 0 successful groups required, got 0\n(and sixty more lines of sops)`,
    ],
    [
      'decryption',
      `${RENDER} ksops stand-in: sops could not decrypt ./secrets/demo-credentials.secret.yaml: Failed to get the data key required to decrypt the SOPS file.`,
    ],
    [
      'plugin',
      `${RENDER.replace(/Error: failure in plugin.*$/, '')} Error: loading generator plugins: failed to load generator: unable to find plugin root - tried: ('/home/argocd/ksops-plugin/viaduct.ai/v1/ksops'; )`,
    ],
    [
      'repository',
      "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: unknown error: fatal: detected dubious ownership in repository at '/gitops-repos/platform/.git'",
    ],
    [
      'repository',
      'Failed to load target state: rpc error: code = Unknown desc = failed to list refs: authentication required: Repository not found.',
    ],
    // A repository that answers, but not as git: waiting 10 minutes changed nothing.
    [
      'repository',
      'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: unexpected EOF',
    ],
    [
      'repository',
      'Failed to load target state: rpc error: code = Unknown desc = failed to list refs: Get "https://git.example.internal/platform.git/info/refs?service=git-upload-pack": tls: failed to verify certificate: x509: certificate signed by unknown authority',
    ],
  ] as const)('%s: %s', (cause, message) => {
    const error = deterministicError(comparisonError(message))
    expect(error?.cause).toBe(cause)
    // One line, not sops' whole dump: the line that names the cause.
    expect(error?.line).not.toContain('\n')
    expect(error?.line.length).toBeLessThanOrEqual(240)
    expect(error?.detail).toBe(message)
  })

  it.each([
    'Failed to load target state: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:8081: connect: connection refused"',
    'the server could not find the requested resource (post secretproviderclasses.secrets-store.csi.x-k8s.io)',
    'resource mapping not found: no matches for kind "SecretProviderClass" in version "secrets-store.csi.x-k8s.io/v1": ensure CRDs are installed first',
    'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again',
    // A wave's running sync may be about to make the project.
    'Application referencing project tenant-a which does not exist',
  ])('transient: %s', (message) => {
    expect(deterministicError(comparisonError(message))).toBeUndefined()
  })

  it('reads nothing into a healthy app, or a finished operation', () => {
    expect(
      deterministicError(
        app('ok', {
          sync: { status: 'Synced' },
          operationState: { phase: 'Succeeded', message: 'is invalid: old' },
        }),
      ),
    ).toBeUndefined()
  })
})

describe('StuckErrors', () => {
  const rejected = (attempt: number) =>
    app('fault', {
      operationState: {
        phase: 'Running',
        message: `one or more objects failed to apply, reason: ConfigMap "X_Y" is invalid: metadata.name: Invalid value. Retrying attempt #${attempt} at 2026-12-03T17:4${attempt}:30Z.`,
      },
    })

  it('calls an error stuck once it stayed the same (retry counters aside) for the window', () => {
    const watch = new StuckErrors(30_000)
    expect(watch.observe([rejected(1)], 0)).toBeUndefined()
    expect(watch.observe([rejected(2)], 20_000)).toBeUndefined()
    expect(watch.observe([rejected(3)], 30_000)?.map((e) => e.app)).toEqual(['fault'])
  })

  it('starts the window again when the error changes or goes away', () => {
    const watch = new StuckErrors(30_000)
    watch.observe([rejected(1)], 0)
    watch.observe([app('fault', { sync: { status: 'Synced' } })], 10_000)
    expect(watch.observe([rejected(2)], 35_000)).toBeUndefined()
    expect(watch.observe([rejected(3)], 65_000)).toBeDefined()
  })
})

describe('LingeringErrors', () => {
  const unlisted = (attempt: number) =>
    app('odd', {
      operationState: {
        phase: 'Running',
        message: `one or more objects failed to apply, reason: something no list names. Retrying attempt #${attempt} at 2026-12-03T17:4${attempt}:30Z.`,
      },
    })
  const waiting = app('progress', {
    operationState: { phase: 'Running', message: 'waiting for healthy state of apps/Deployment/web' },
  })

  it('says an error on no list once it stayed the same for the grace period, and only once', () => {
    const watch = new LingeringErrors(45_000)
    expect(watch.observe([unlisted(1), waiting], 0)).toEqual([])
    expect(watch.observe([unlisted(2), waiting], 30_000)).toEqual([])
    const due = watch.observe([unlisted(3), waiting], 45_000)
    expect(due.map((d) => [d.app, d.forMs])).toEqual([['odd', 45_000]])
    expect(due[0]?.line).toBe('one or more objects failed to apply, reason: something no list names.')
    expect(watch.observe([unlisted(4), waiting], 90_000)).toEqual([])
  })

  it('reads a running sync that waits for health as progress, not as an error', () => {
    const watch = new LingeringErrors(1_000)
    watch.observe([waiting], 0)
    expect(watch.observe([waiting], 5_000)).toEqual([])
  })
})
