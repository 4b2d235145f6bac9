import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateIdentity } from '../../lib/bootstrap-secrets/age.ts'
import { run } from '../../lib/core/exec.ts'
import { Redactor } from '../../lib/core/redact.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { applyObjects } from '../../lib/kube/apply.ts'
import { createKube, loadKubeConfig } from '../../lib/kube/client.ts'
import { kubeApis, LOCAL_POLL } from '../../lib/local/kube.ts'
import type { BaoCall, BaoRequest } from '../../lib/openbao/client.ts'
import { openbaoSetup } from '../../lib/openbao/setup/index.ts'
import { authDelegatorBinding } from '../../lib/openbao/setup/policy.ts'
import type { SetupReport } from '../../lib/openbao/setup/report.ts'
import { localProvider } from '../../lib/providers/local.ts'
import { loadConfig } from '../../lib/runner/config.ts'
import { type Context, memo } from '../../lib/runner/context.ts'
import { Logger } from '../../lib/runner/log.ts'
import { decrypt, writeEncrypted } from '../../lib/sops/index.ts'
import { memorySink } from '../helpers/memory-sink.ts'
import { useLocalStack } from './fixture.ts'

/**
 * `openbao-setup` end to end on the local provider: a real OpenBao (raft, static seal, not
 * -dev) initialised by the step itself, and kubernetes auth checked against a real
 * kube-apiserver with real ServiceAccount tokens (TokenRequest). OpenBao runs outside the
 * cluster here, so it has no reviewer token: each app's ServiceAccount reviews its own token,
 * which is why setup binds it to system:auth-delegator (proven below by taking it away).
 */

vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 })

const stack = useLocalStack({ nodes: 1, argocd: false })

let ctx: Context
let sink: ReturnType<typeof memorySink>
let initFile: string
const bootstrap = { cloudflare_api_token: 'cf-local-planted-bootstrap-token-0123456789' }

/** The step as `just openbao-setup local` runs it, with every OpenBao request that is not a GET counted. */
async function setup(
  flags: Partial<Context['flags']> = {},
): Promise<{ report: SetupReport; writes: BaoRequest[]; kubeWrites: number }> {
  const writes: BaoRequest[] = []
  const kube = await ctx.kube()
  const kubeBefore = kube.requests.writes
  const report = await openbaoSetup({ ...ctx, flags: { ...ctx.flags, ...flags } }, (deps) => {
    const call: BaoCall = async (request) => {
      if (request.method !== 'GET') writes.push(request)
      return deps.call(request)
    }
    return { ...deps, call }
  })
  return { report, writes, kubeWrites: kube.requests.writes - kubeBefore }
}

async function address(): Promise<string> {
  return (await ctx.provider.openbao(ctx)).address
}

/** The parts of OpenBao's answers these tests read. */
interface BaoBody {
  data: { data: Record<string, string>; metadata: { version: number } }
  auth?: { client_token?: string }
}

async function bao(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: BaoBody }> {
  const response = await fetch(`${await address()}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : {} }
}

/** A ServiceAccount token from the apiserver (TokenRequest), as the CSI provider gets one for a pod. */
async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  const { core } = kubeApis(stack().controlPlane.kubeconfig)
  const response = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  })
  return response.status?.token ?? ''
}

async function login(role: string, jwt: string): Promise<{ status: number; token: string }> {
  const response = await bao('POST', 'auth/kubernetes/login', '', { role, jwt })
  return { status: response.status, token: response.body?.auth?.client_token ?? '' }
}

const stored = () => decrypt(initFile, { ageKeyFile: stack().ageKeyFile })

beforeAll(async () => {
  const { stateDir, keysDir, ageKeyFile, agePublicKey, unsealKeyFile, controlPlane } = stack()
  vi.stubEnv('SOPS_AGE_KEY_FILE', ageKeyFile)
  const cluster = await generateIdentity()
  const base = loadConfig('local')
  const sopsFile = join(keysDir, 'secrets.sops.yaml')
  initFile = join(keysDir, 'openbao.sops.yaml')
  await writeEncrypted(sopsFile, { ...bootstrap }, [agePublicKey, cluster.recipient])

  // What steps 02 and 05 leave: the namespaces and the unseal key Secret the provider unseals OpenBao with.
  // The apps' ServiceAccounts are their charts' (Argo CD's) to make; here the test makes them.
  const apis = kubeApis(controlPlane.kubeconfig)
  const key = readFileSync(unsealKeyFile, 'utf8')
  await applyObjects(
    apis.kube,
    [
      ...['openbao', ...base.openbao.apps.map((a) => a.namespace)].map((name) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      })),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'openbao-unseal-key', namespace: 'openbao' },
        stringData: { key },
      } as never,
      ...base.openbao.apps.map((a) => ({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: a.serviceAccount, namespace: a.namespace },
      })),
    ],
    { force: true },
  )

  sink = memorySink()
  // A redactor of its own that knows no value: what the step prints is checked as it printed it.
  const log = new Logger({ sink, redactor: new Redactor() })
  ctx = {
    // Every file the config names relative to the checkout comes from the test's own folder: a
    // snapshot the user's `destroy local` left in the checkout is never read.
    env: {
      ...base,
      root: keysDir,
      secrets: { ...base.secrets, sopsFile },
      openbao: { ...base.openbao, initFile, snapshotFile: join(keysDir, 'openbao-snapshot.age') },
    },
    flags: { dryRun: false, force: false, rotate: [] },
    log,
    run,
    provider: localProvider,
    stateDir,
    secrets: memo(async () => ({
      values: await decrypt(sopsFile, { ageKeyFile }),
      sources: {},
      warnings: [],
    })),
    kube: memo(async () => createKube(loadKubeConfig(controlPlane.kubeconfig))),
    source: async () => {
      throw new Error('openbao-setup reads no gitops source')
    },
  }
})

afterAll(() => {
  vi.unstubAllEnvs()
  for (const line of sink?.lines ?? []) stack().log.detail(line)
})

describe('openbao-setup on the local provider (real OpenBao, real kube-apiserver)', () => {
  it('initialises OpenBao through setup; the second run writes nothing', async () => {
    const first = await stack().phase('openbao-setup (first)', () => setup())
    expect(first.report.entries[0]).toMatchObject({ subject: 'OpenBao', outcome: 'created' })
    expect(first.kubeWrites).toBe(ctx.env.openbao.apps.length) // one auth-delegator binding per app
    const values = await stored()
    expect(values).toHaveProperty('admin_token')
    expect(values).toHaveProperty('recovery_key_1')
    expect(values).not.toHaveProperty('root_token')

    const second = await stack().phase('openbao-setup (second)', () => setup())
    expect(second.writes).toEqual([])
    expect(second.report.writes).toBe(0)
    expect(second.report.initFileWrites).toBe(0)
    expect(second.kubeWrites).toBe(0)
  })

  it('an app ServiceAccount token logs in, reads its own secret, and is denied another app', async () => {
    const values = await stored()
    const grafana = await login('grafana', await serviceAccountToken('monitoring', 'grafana'))
    expect(grafana.status).toBe(200)
    const own = await bao('GET', 'secret/data/grafana', grafana.token)
    expect(own.status).toBe(200)
    expect(own.body.data.data['admin-password']).toBe(values['generated__grafana__admin-password'])
    expect((await bao('GET', 'secret/data/harbor', grafana.token)).status).toBe(403)
    expect((await bao('POST', 'secret/data/grafana', grafana.token, { data: { x: 'y' } })).status).toBe(403)

    const harbor = await login('harbor', await serviceAccountToken('harbor', 'harbor'))
    expect(harbor.status).toBe(200)
    const harborOwn = await bao('GET', 'secret/data/harbor', harbor.token)
    expect(harborOwn.body.data.data['cloudflare-api-token']).toBe(bootstrap.cloudflare_api_token)
    expect((await bao('GET', 'secret/data/grafana', harbor.token)).status).toBe(403)

    // A role is bound to its app's ServiceAccount only.
    expect((await login('harbor', await serviceAccountToken('monitoring', 'grafana'))).status).not.toBe(200)
  })

  it('without its system:auth-delegator binding a ServiceAccount cannot log in; setup puts it back', async () => {
    const kube = await ctx.kube()
    const binding = authDelegatorBinding(ctx.env.openbao.apps[0] as never)
    const loginStatus = async () =>
      (await login('grafana', await serviceAccountToken('monitoring', 'grafana'))).status
    await kube.delete({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      name: binding.metadata.name,
    })
    // RBAC changes reach the authorizer through an informer: allow it a moment either way.
    await waitFor('grafana login to be refused', async () => (await loginStatus()) !== 200, {
      ...LOCAL_POLL,
      timeoutMs: 15_000,
    })
    const again = await setup()
    expect(again.kubeWrites).toBe(1)
    expect(again.writes).toEqual([])
    await waitFor('grafana login to work again', async () => (await loginStatus()) === 200, {
      ...LOCAL_POLL,
      timeoutMs: 15_000,
    })
  })

  it('a value changed by hand survives another run; --rotate replaces exactly that field', async () => {
    const admin = (await stored()).admin_token as string
    const before = await bao('GET', 'secret/data/harbor', admin)
    const version = before.body.data.metadata.version
    const changed = { ...before.body.data.data, 'admin-password': 'harbor-changed-by-hand-planted' }
    expect(
      (await bao('POST', 'secret/data/harbor', admin, { options: { cas: version }, data: changed })).status,
    ).toBe(200)

    const kept = await setup()
    expect(kept.writes).toEqual([])
    expect((await bao('GET', 'secret/data/harbor', admin)).body.data.data).toEqual(changed)
    expect((await stored())['generated__harbor__admin-password']).toBe('harbor-changed-by-hand-planted')

    const dry = await setup({ dryRun: true, rotate: ['harbor/admin-password'] })
    expect(dry.writes).toEqual([])
    expect(dry.report.entries.find((e) => e.subject === 'secret harbor/admin-password')?.outcome).toBe(
      'replaced',
    )

    const rotated = await setup({ rotate: ['harbor/admin-password'] })
    expect(rotated.writes.map((w) => w.path)).toEqual(['secret/data/harbor'])
    const after = (await bao('GET', 'secret/data/harbor', admin)).body.data
    expect(after.metadata.version).toBe(version + 2)
    expect(after.data['admin-password']).not.toBe('harbor-changed-by-hand-planted')
    expect({ ...after.data, 'admin-password': '' }).toEqual({ ...changed, 'admin-password': '' })
  })

  it('printed no value', async () => {
    const values = Object.values(await stored()).filter((v) => v.length >= 8 && !/^\d{4}-\d\d-\d\dT/.test(v))
    const printed = sink.lines.join('\n')
    expect(printed).toContain('secret grafana/admin-password')
    for (const value of [...values, bootstrap.cloudflare_api_token]) expect(printed).not.toContain(value)
  })
})
