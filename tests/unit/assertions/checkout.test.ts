import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { Pod } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../../lib/runner/config.ts'
import { consumersOf, expectedApplications } from '../../e2e/checkout.ts'
import { probePod, refusalApplication } from '../../e2e/harness.ts'
import { env } from './fixtures.ts'

/**
 * What the harness reads from the checkout: the Applications it expects, their consumers, the probe pod.
 */

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
