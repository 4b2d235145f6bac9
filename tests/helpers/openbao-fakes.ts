import type { BaoCall, BaoRequest, BaoResponse } from '../../lib/openbao/client.ts'
import { generatedKey, type InitStore } from '../../lib/openbao/init-store.ts'
import { ADMIN_POLICY, adminPolicy, appPolicy, appRole } from '../../lib/openbao/setup/policy.ts'
import type { SetupReport } from '../../lib/openbao/setup/report.ts'
import { randomSecret } from '../../lib/openbao/setup/secrets.ts'
import type { SetupDeps, SetupOptions } from '../../lib/openbao/setup/session.ts'
import type { OpenBaoAppConfig } from '../../lib/runner/config.ts'

/** What the openbao tests share: configured apps, fakes that answer from recorded OpenBao 2.7.2 responses, and a run's harness. */

export const apps: OpenBaoAppConfig[] = [
  {
    name: 'grafana',
    namespace: 'monitoring',
    serviceAccount: 'grafana',
    secrets: { 'admin-password': { generate: 32 } },
  },
  {
    name: 'harbor',
    namespace: 'harbor',
    serviceAccount: 'harbor',
    secrets: {
      'admin-password': { generate: 24 },
      'cloudflare-api-token': { fromField: 'cloudflare_api_token' },
    },
  },
]
export const bootstrap = { cloudflare_api_token: 'cf-planted-bootstrap-token-0123456789' }
export const external = {
  host: 'https://127.0.0.1:6443',
  caCert: '-----BEGIN CERTIFICATE-----\nMIIBplantedCA\n-----END CERTIFICATE-----\n',
}

// ---------------------------------------------------------------------------------------------
// Fakes: an in-memory init file and an OpenBao that answers from recorded 2.7.2 responses.

export interface MemoryStore extends InitStore {
  values: Record<string, string> | undefined
  writes: Record<string, string>[]
  preflights: number
}

export function memoryStore(initial?: Record<string, string>, events?: string[]): MemoryStore {
  const store: MemoryStore = {
    values: initial && { ...initial },
    writes: [],
    preflights: 0,
    read: async () => store.values && { ...store.values },
    write: async (values) => {
      events?.push('init-file write')
      store.writes.push({ ...values })
      store.values = { ...values }
    },
    preflight: async () => {
      events?.push('preflight')
      store.preflights++
    },
  }
  return store
}

export type Answer = BaoResponse | ((request: BaoRequest) => BaoResponse)

export interface FakeBao {
  call: BaoCall
  calls: BaoRequest[]
  writes(): BaoRequest[]
}

export const notFound: BaoResponse = { status: 404, body: { errors: [] } }
export const noContent: BaoResponse = { status: 204, body: undefined }

/** Answers `METHOD path` from `answers`; any other GET is a 404, any other write a 204. */
export function fakeBao(answers: Record<string, Answer>, events?: string[]): FakeBao {
  const calls: BaoRequest[] = []
  return {
    calls,
    writes: () => calls.filter((c) => c.method !== 'GET'),
    call: async (request) => {
      calls.push(structuredClone(request))
      if (request.method !== 'GET') events?.push(`${request.method} ${request.path}`)
      const answer = answers[`${request.method} ${request.path}`]
      if (answer) return typeof answer === 'function' ? answer(request) : answer
      return request.method === 'GET' ? notFound : noContent
    },
  }
}

export const ok = (data: unknown): BaoResponse => ({
  status: 200,
  body: {
    request_id: 'r',
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
  },
})

// Recorded from OpenBao 2.7.2 (static seal, raft), trimmed to the fields setup reads.
export const sealStatus = (initialized: boolean, sealed = !initialized): BaoResponse => ({
  status: 200,
  body: {
    type: 'static',
    initialized,
    sealed,
    t: initialized ? 1 : 0,
    n: initialized ? 1 : 0,
    progress: 0,
    nonce: '',
    recovery_seal: true,
    recovery_seal_type: 'shamir',
    version: '2.7.2',
    storage_type: 'raft',
  },
})
export const adminLookup = (ttl = 2764799): BaoResponse =>
  ok({
    accessor: 'acc',
    ttl,
    period: 2764800,
    policies: [ADMIN_POLICY],
    orphan: true,
    renewable: true,
    type: 'service',
  })
export const mounts = (withSecret: boolean): BaoResponse =>
  ok({
    'sys/': { type: 'system', options: null },
    'identity/': { type: 'identity', options: null },
    'cubbyhole/': { type: 'cubbyhole', options: null },
    ...(withSecret ? { 'secret/': { type: 'kv', options: { version: '2' }, description: '' } } : {}),
  })
export const auths = (withKubernetes: boolean): BaoResponse =>
  ok({
    'token/': { type: 'token' },
    ...(withKubernetes ? { 'kubernetes/': { type: 'kubernetes' } } : {}),
  })
export const policy = (name: string, text: string): BaoResponse =>
  ok({ name, policy: text, version: 1, cas_required: false })
export const role = (app: OpenBaoAppConfig): BaoResponse =>
  ok({
    alias_name_source: 'serviceaccount_uid',
    bound_service_account_namespace_selector: '',
    token_bound_cidrs: [],
    token_period: 0,
    token_type: 'default',
    ...appRole(app),
  })
export const kv = (data: Record<string, unknown>, version: number): BaoResponse =>
  ok({
    data,
    metadata: {
      created_time: '2026-11-23T23:10:07Z',
      custom_metadata: null,
      deletion_time: '',
      destroyed: false,
      version,
    },
  })

export const liveValues = {
  grafana: { 'admin-password': 'grafana-live-planted-value-000000' },
  harbor: {
    'admin-password': 'harbor-live-planted-value-0000',
    'cloudflare-api-token': bootstrap.cloudflare_api_token,
    extra: 'hand-added',
  },
}

/** An initialised OpenBao where everything setup makes is already in place. */
export function everythingInPlace(): Record<string, Answer> {
  return {
    'GET sys/seal-status': sealStatus(true),
    'GET auth/token/lookup-self': adminLookup(),
    [`GET sys/policies/acl/${ADMIN_POLICY}`]: policy(ADMIN_POLICY, adminPolicy()),
    'GET sys/mounts': mounts(true),
    'GET sys/auth': auths(true),
    'GET auth/kubernetes/config': ok({
      disable_iss_validation: true,
      disable_local_ca_jwt: true,
      issuer: '',
      kubernetes_ca_cert: external.caCert,
      kubernetes_host: external.host,
      pem_keys: [],
      token_reviewer_jwt_set: false,
    }),
    ...Object.fromEntries(
      apps.flatMap((app) => [
        [`GET sys/policies/acl/${app.name}`, policy(app.name, appPolicy(app))],
        [`GET auth/kubernetes/role/${app.name}`, role(app)],
      ]),
    ),
    'GET secret/data/grafana': kv(liveValues.grafana, 1),
    'GET secret/data/harbor': kv(liveValues.harbor, 3),
  }
}

export const ADMIN_TOKEN = 's.plantedAdminToken0123456789'
export const storedFile = () => ({
  initialized_at: '2026-11-01T00:00:00.000Z',
  recovery_key_1: 'plantedRecoveryKeyBase64AAAAAAAAAAAAAAAAAAA=',
  recovery_threshold: '1',
  admin_token: ADMIN_TOKEN,
  admin_token_accessor: 'acc',
  root_token_revoked_at: '2026-11-01T00:00:01.000Z',
  [generatedKey('grafana', 'admin-password')]: liveValues.grafana['admin-password'],
  [generatedKey('harbor', 'admin-password')]: liveValues.harbor['admin-password'],
})

export interface Harness {
  deps: SetupDeps
  lines: string[]
  generated: string[]
  clock: { now: number }
}

export function harness(call: BaoCall, initStore: InitStore): Harness {
  const lines: string[] = []
  const generated: string[] = []
  const clock = { now: Date.parse('2026-11-23T12:00:00Z') }
  let n = 0
  return {
    lines,
    generated,
    clock,
    deps: {
      call,
      initStore,
      randomSecret: (length) => {
        const value = `gen${++n}-planted-`.padEnd(length, 'x')
        generated.push(value)
        return value
      },
      sleep: async (ms) => {
        clock.now += ms
      },
      now: () => clock.now,
      onEntry: (line) => lines.push(line),
    },
  }
}

export function setupOptions(overrides: Partial<SetupOptions> = {}): SetupOptions {
  return {
    address: 'http://127.0.0.1:8200',
    kubernetes: external,
    initFile: 'environments/test/openbao.sops.yaml',
    apps,
    rotate: [],
    dryRun: false,
    bootstrapValues: async () => ({ ...bootstrap }),
    ...overrides,
  }
}

export const outcomes = (report: SetupReport) => report.entries.map((e) => `${e.subject}: ${e.outcome}`)

// ---------------------------------------------------------------------------------------------
// For runs against real OpenBao 2.7.2 binaries.

/** Counts the requests that are not GET: "a second run writes nothing" is measured here, not assumed. */
export function counting(call: BaoCall): BaoCall & { writes: BaoRequest[] } {
  const writes: BaoRequest[] = []
  const wrapped = (async (request: BaoRequest) => {
    if (request.method !== 'GET') writes.push(request)
    return call(request)
  }) as BaoCall & { writes: BaoRequest[] }
  wrapped.writes = writes
  return wrapped
}

export function realDeps(call: BaoCall, initStore: InitStore, lines: string[] = []): SetupDeps {
  return {
    call,
    initStore,
    randomSecret,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    onEntry: (line) => lines.push(line),
  }
}
