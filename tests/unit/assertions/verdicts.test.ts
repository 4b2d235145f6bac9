import { describe, expect, it } from 'vitest'
import { generateIdentity } from '../../../lib/bootstrap-secrets/age.ts'
import type { KObject } from '../../../lib/kube/client.ts'
import { ageKeySecret, bootstrapSecret, opaqueSecret, rootApplication } from '../../../lib/kube/manifests.ts'
import {
  ageKeySecretHolds,
  appCondition,
  applicationsConverged,
  bootstrapSecretsExist,
  namespacesExist,
  refusedByProject,
  resourceVersionsKept,
  rootApplicationExists,
  secretHolds,
} from '../../assertions/assertions.ts'
import { PROJECT_REFUSAL } from '../../e2e/harness.ts'
import { recordedApplication } from '../../helpers/applications.ts'
import {
  AGE_KEY,
  application,
  BOOTSTRAP,
  clone,
  DEGRADED,
  DESTINATION_REFUSED,
  env,
  FakeKube,
  REPO_REFUSED,
  refusedStatus,
  SYNCED,
} from './fixtures.ts'

/**
 * The verdicts of the kind e2e, fed objects as a cluster returns them: the same functions the local
 * tier runs against its cluster and the nightly run against kind.
 */

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
    const other = await ageKeySecretHolds(kube, env, (await generateIdentity()).identity)
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
