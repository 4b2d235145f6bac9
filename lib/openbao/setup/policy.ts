import { isDeepStrictEqual } from 'node:util'
import type { KObject } from '../../kube/client.ts'
import type { OpenBaoAppConfig } from '../../runner/config.ts'

/**
 * The documents `openbao-setup` writes into OpenBao, and how each is compared with what is
 * there: equal means nothing is sent. Pure functions, so the exact HCL and role of an app can
 * be read (and tested) without a server.
 */

/** Where runtime secrets live (secret/data/<app>: one path per app, so a policy can give it that path alone). */
export const KV_MOUNT = 'secret'
export const KUBERNETES_AUTH_MOUNT = 'kubernetes'
/** The policy of the token setup keeps after initialisation (the root token is revoked). */
export const ADMIN_POLICY = 'platform-bootstrap'
/** What OpenBao in a pod reaches its own cluster at; it then reviews logins with its pod's token and CA. */
export const IN_CLUSTER_HOST = 'https://kubernetes.default.svc'
/** Policy names OpenBao keeps for itself or setup uses: an app of that name would overwrite one. */
export const RESERVED_POLICY_NAMES = ['root', 'default', ADMIN_POLICY] as const

/**
 * Everything setup does after init, and nothing more: no delete anywhere, mounts and auth
 * methods only at the two paths it owns. Writing ACL policies is inherently a way to widen
 * one's own rights; it is here because per-app policies are setup's job.
 */
export function adminPolicy(): string {
  return `# ${ADMIN_POLICY}: what \`just openbao-setup\` needs once OpenBao is initialised.
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/${KV_MOUNT}" {
  capabilities = ["create", "read", "update"]
}
path "sys/auth" {
  capabilities = ["read"]
}
# Enabling an auth method needs sudo.
path "sys/auth/${KUBERNETES_AUTH_MOUNT}" {
  capabilities = ["create", "read", "update", "sudo"]
}
path "auth/${KUBERNETES_AUTH_MOUNT}/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "${KV_MOUNT}/data/*" {
  capabilities = ["create", "read", "update"]
}
path "${KV_MOUNT}/metadata/*" {
  capabilities = ["read", "list"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
# destroy and backup take raft snapshots (read); restore puts one back (update).
path "sys/storage/raft/snapshot" {
  capabilities = ["read", "update"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
`
}

/** An app reads its own path, and nothing else: the CSI provider logs in as role <app>. */
export function appPolicy(app: Pick<OpenBaoAppConfig, 'name'>): string {
  return `# ${app.name}: read-only access to its own runtime secrets (role ${app.name}).
path "${KV_MOUNT}/data/${app.name}" {
  capabilities = ["read"]
}
path "${KV_MOUNT}/metadata/${app.name}" {
  capabilities = ["read", "list"]
}
`
}

/** Policies compare by text; OpenBao keeps what it is given, so only trailing whitespace is forgiven. */
export function samePolicy(current: string | undefined, desired: string): boolean {
  return current !== undefined && current.trimEnd() === desired.trimEnd()
}

/** The kubernetes auth role of an app, as written; durations in seconds, as OpenBao reads them back. */
export interface KubernetesRole {
  bound_service_account_names: string[]
  bound_service_account_namespaces: string[]
  token_policies: string[]
  token_ttl: number
  token_max_ttl: number
}

/** One hour: the CSI provider logs in again on every mount and rotation poll, so short is cheap. */
export const ROLE_TOKEN_TTL_SECONDS = 3600
export const ROLE_TOKEN_MAX_TTL_SECONDS = 4 * 3600

export function appRole(
  app: Pick<OpenBaoAppConfig, 'name' | 'namespace' | 'serviceAccount'>,
): KubernetesRole {
  return {
    bound_service_account_names: [app.serviceAccount],
    bound_service_account_namespaces: [app.namespace],
    token_policies: [app.name],
    token_ttl: ROLE_TOKEN_TTL_SECONDS,
    token_max_ttl: ROLE_TOKEN_MAX_TTL_SECONDS,
  }
}

/** Every field setup sets has that value (lists as sets); fields it does not set are not its business. */
export function sameRole(current: Record<string, unknown> | undefined, desired: KubernetesRole): boolean {
  if (!current) return false
  return Object.entries(desired).every(([key, value]) => {
    const actual = current[key]
    if (Array.isArray(value))
      return Array.isArray(actual) && isDeepStrictEqual([...actual].sort(), [...value].sort())
    return actual === value
  })
}

/** Where OpenBao's kubernetes auth method reviews ServiceAccount tokens. */
export interface KubernetesTarget {
  host: string
  /** PEM; none in a pod (OpenBao then uses the pod's own CA). */
  caCert?: string
}

/**
 * OpenBao outside the cluster (the local provider) has no pod token or CA of its own: it must
 * not look for them, and it reviews each login with the caller's own token, so every app's
 * ServiceAccount needs system:auth-delegator ({@link authDelegatorBinding}).
 */
export function isExternal(target: KubernetesTarget): boolean {
  return target.host.replace(/\/+$/, '') !== IN_CLUSTER_HOST
}

export interface KubernetesAuthConfig {
  kubernetes_host: string
  kubernetes_ca_cert: string
  disable_local_ca_jwt: boolean
}

export function kubernetesAuthConfig(target: KubernetesTarget): KubernetesAuthConfig {
  return {
    kubernetes_host: target.host,
    kubernetes_ca_cert: target.caCert ?? '',
    disable_local_ca_jwt: isExternal(target),
  }
}

export function sameKubernetesAuthConfig(
  current: Record<string, unknown> | undefined,
  desired: KubernetesAuthConfig,
): boolean {
  if (!current) return false
  const pem = (value: unknown) => (typeof value === 'string' ? value.trim() : '')
  return (
    current.kubernetes_host === desired.kubernetes_host &&
    pem(current.kubernetes_ca_cert) === pem(desired.kubernetes_ca_cert) &&
    Boolean(current.disable_local_ca_jwt) === desired.disable_local_ca_jwt
  )
}

/**
 * Lets an app's ServiceAccount have its own token reviewed (TokenReview), which is how an
 * OpenBao without a reviewer token checks a login. Only for an external OpenBao: in the
 * cluster, the chart binds OpenBao's own ServiceAccount instead and apps need nothing.
 */
export function authDelegatorBinding(
  app: Pick<OpenBaoAppConfig, 'name' | 'namespace' | 'serviceAccount'>,
): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {
      name: `openbao-auth-delegator-${app.name}`,
      labels: { 'app.kubernetes.io/managed-by': 'platform-bootstrap' },
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', name: app.serviceAccount, namespace: app.namespace }],
  }
}
