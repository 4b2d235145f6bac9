import { describe, expect, it } from 'vitest'
import {
  ADMIN_POLICY,
  adminPolicy,
  appPolicy,
  appRole,
  authDelegatorBinding,
  isExternal,
  kubernetesAuthConfig,
  sameKubernetesAuthConfig,
  samePolicy,
  sameRole,
} from './policy.ts'

const grafana = { name: 'grafana', namespace: 'monitoring', serviceAccount: 'grafana' }

/** `path "<p>" { capabilities = [...] }` blocks of an HCL policy, as path → capabilities. */
function paths(hcl: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const match of hcl.matchAll(/path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]\s*\}/g)) {
    out[match[1] as string] = [...(match[2] as string).matchAll(/"([^"]+)"/g)].map((m) => m[1] as string)
  }
  return out
}

describe('app policy', () => {
  it('reads its own path and metadata, nothing else, nothing more', () => {
    const hcl = appPolicy(grafana)
    expect(paths(hcl)).toEqual({
      'secret/data/grafana': ['read'],
      'secret/metadata/grafana': ['read', 'list'],
    })
    expect(hcl).toBe(`# grafana: read-only access to its own runtime secrets (role grafana).
path "secret/data/grafana" {
  capabilities = ["read"]
}
path "secret/metadata/grafana" {
  capabilities = ["read", "list"]
}
`)
  })

  it('compares by text, forgiving only trailing whitespace', () => {
    const hcl = appPolicy(grafana)
    expect(samePolicy(hcl, hcl)).toBe(true)
    expect(samePolicy(`${hcl.trimEnd()}\n\n`, hcl)).toBe(true)
    expect(samePolicy(undefined, hcl)).toBe(false)
    expect(samePolicy(hcl.replace('"read"]', '"read", "update"]'), hcl)).toBe(false)
  })
})

describe('admin policy', () => {
  it('covers what setup does after init, never delete, never a wildcard mount', () => {
    const caps = paths(adminPolicy())
    expect(Object.keys(caps).sort()).toEqual([
      'auth/kubernetes/*',
      'auth/token/lookup-self',
      'auth/token/renew-self',
      'secret/data/*',
      'secret/metadata/*',
      'sys/auth',
      'sys/auth/kubernetes',
      'sys/mounts',
      'sys/mounts/secret',
      'sys/policies/acl/*',
      'sys/storage/raft/snapshot',
    ])
    // Snapshots: read to take one (destroy, backup), update to restore one.
    expect(caps['sys/storage/raft/snapshot']).toEqual(['read', 'update'])
    for (const list of Object.values(caps)) expect(list).not.toContain('delete')
    expect(caps['sys/auth/kubernetes']).toContain('sudo')
    expect(adminPolicy()).toContain(ADMIN_POLICY)
  })
})

describe('kubernetes role', () => {
  it('binds the app ServiceAccount in its namespace to its policy', () => {
    expect(appRole(grafana)).toEqual({
      bound_service_account_names: ['grafana'],
      bound_service_account_namespaces: ['monitoring'],
      token_policies: ['grafana'],
      token_ttl: 3600,
      token_max_ttl: 14400,
    })
  })

  it('compares the fields it sets against OpenBao 2.7.2 read-back, lists as sets', () => {
    // GET auth/kubernetes/role/grafana as OpenBao 2.7.2 answers it (recorded).
    const readBack = {
      alias_name_source: 'serviceaccount_uid',
      bound_service_account_names: ['grafana'],
      bound_service_account_namespace_selector: '',
      bound_service_account_namespaces: ['monitoring'],
      token_bound_cidrs: [],
      token_explicit_max_ttl: 0,
      token_max_ttl: 14400,
      token_no_default_policy: false,
      token_num_uses: 0,
      token_period: 0,
      token_policies: ['grafana'],
      token_strictly_bind_ip: false,
      token_ttl: 3600,
      token_type: 'default',
    }
    const desired = appRole(grafana)
    expect(sameRole(readBack, desired)).toBe(true)
    expect(sameRole({ ...readBack, token_policies: ['grafana', 'extra'] }, desired)).toBe(false)
    expect(sameRole({ ...readBack, bound_service_account_namespaces: ['default'] }, desired)).toBe(false)
    expect(sameRole({ ...readBack, token_ttl: 60 }, desired)).toBe(false)
    expect(sameRole(undefined, desired)).toBe(false)
    const two = { ...grafana, serviceAccount: 'a' }
    expect(sameRole({ ...readBack, bound_service_account_names: ['a'] }, appRole(two))).toBe(true)
  })
})

describe('kubernetes auth config', () => {
  it('in a pod: the in-cluster host, the pod CA and token', () => {
    const target = { host: 'https://kubernetes.default.svc' }
    expect(isExternal(target)).toBe(false)
    expect(kubernetesAuthConfig(target)).toEqual({
      kubernetes_host: 'https://kubernetes.default.svc',
      kubernetes_ca_cert: '',
      disable_local_ca_jwt: false,
    })
  })

  it('outside the cluster: the given host and CA, and no pod files looked for', () => {
    const target = {
      host: 'https://127.0.0.1:6443',
      caCert: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n',
    }
    expect(isExternal(target)).toBe(true)
    const desired = kubernetesAuthConfig(target)
    expect(desired).toEqual({
      kubernetes_host: target.host,
      kubernetes_ca_cert: target.caCert,
      disable_local_ca_jwt: true,
    })
    // GET auth/kubernetes/config as OpenBao 2.7.2 answers it (recorded).
    const readBack = {
      disable_iss_validation: true,
      disable_local_ca_jwt: true,
      issuer: '',
      kubernetes_ca_cert: target.caCert,
      kubernetes_host: target.host,
      pem_keys: [],
      token_reviewer_jwt_set: false,
    }
    expect(sameKubernetesAuthConfig(readBack, desired)).toBe(true)
    expect(sameKubernetesAuthConfig({ ...readBack, kubernetes_host: 'https://127.0.0.1:1' }, desired)).toBe(
      false,
    )
    expect(sameKubernetesAuthConfig({ ...readBack, kubernetes_ca_cert: '' }, desired)).toBe(false)
    expect(sameKubernetesAuthConfig({ ...readBack, disable_local_ca_jwt: false }, desired)).toBe(false)
    expect(sameKubernetesAuthConfig(undefined, desired)).toBe(false)
  })
})

describe('auth-delegator binding', () => {
  it('binds exactly the app ServiceAccount to system:auth-delegator', () => {
    expect(authDelegatorBinding(grafana)).toEqual({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {
        name: 'openbao-auth-delegator-grafana',
        labels: { 'app.kubernetes.io/managed-by': 'platform-bootstrap' },
      },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'grafana', namespace: 'monitoring' }],
    })
  })
})
