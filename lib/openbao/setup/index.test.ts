import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../../tests/helpers/caught.ts'
import { type OpenBaoDev, startOpenBaoDev } from '../../../tests/helpers/openbao-dev.ts'
import {
  ADMIN_TOKEN,
  type Answer,
  adminLookup,
  apps,
  auths,
  bootstrap,
  counting,
  everythingInPlace,
  external,
  fakeBao,
  harness,
  kv,
  liveValues,
  type MemoryStore,
  memoryStore,
  mounts,
  notFound,
  ok,
  outcomes,
  policy,
  realDeps,
  sealStatus,
  setupOptions,
  storedFile,
} from '../../../tests/helpers/openbao-fakes.ts'
import type { OpenBaoAppConfig } from '../../runner/config.ts'
import { nodeVaultCall } from '../client.ts'
import { generatedKey } from '../init-store.ts'
import { reconcileOpenBao } from './index.ts'
import { ADMIN_POLICY, adminPolicy, appPolicy, appRole } from './policy.ts'
import { summaryLines } from './report.ts'
import { parseRotations } from './secrets.ts'
import type { SetupOptions } from './session.ts'

describe('plan from recorded OpenBao responses', () => {
  it('writes nothing at all when everything is in place', async () => {
    const bao = fakeBao(everythingInPlace())
    const store = memoryStore(storedFile())
    const { deps } = harness(bao.call, store)
    let asked = false
    const report = await reconcileOpenBao(
      setupOptions({
        bootstrapValues: async () => {
          asked = true
          return bootstrap
        },
      }),
      deps,
    )
    expect(bao.writes()).toEqual([])
    expect(store.writes).toEqual([])
    expect(report.writes).toBe(0)
    expect(asked).toBe(false) // nothing to write, so the bootstrap secrets are not even decrypted
    expect(outcomes(report)).toEqual([
      `policy ${ADMIN_POLICY}: unchanged`,
      'admin token: unchanged',
      'secrets engine secret/: unchanged',
      'auth method kubernetes/: unchanged',
      'kubernetes auth config: unchanged',
      'policy grafana: unchanged',
      'kubernetes role grafana: unchanged',
      'policy harbor: unchanged',
      'kubernetes role harbor: unchanged',
      'secret grafana/admin-password: kept',
      'secret harbor/admin-password: kept',
      'secret harbor/cloudflare-api-token: kept',
    ])
    // Every call authenticated with the stored admin token.
    expect(bao.calls.filter((c) => c.path !== 'sys/seal-status').every((c) => c.token === ADMIN_TOKEN)).toBe(
      true,
    )
  })

  const nothingConfigured = (): Record<string, Answer> => ({
    'GET sys/seal-status': sealStatus(true),
    'GET auth/token/lookup-self': adminLookup(),
    [`GET sys/policies/acl/${ADMIN_POLICY}`]: policy(ADMIN_POLICY, adminPolicy()),
    'GET sys/mounts': mounts(false),
    'GET sys/auth': auths(false),
  })

  it('dry run: reads, says what it would create, writes nothing', async () => {
    const bao = fakeBao(nothingConfigured())
    const store = memoryStore({ admin_token: ADMIN_TOKEN })
    const { deps, lines } = harness(bao.call, store)
    const report = await reconcileOpenBao(setupOptions({ dryRun: true }), deps)
    expect(bao.writes()).toEqual([])
    expect(store.writes).toEqual([])
    expect(report.entries.filter((e) => e.outcome === 'created').map((e) => e.subject)).toEqual([
      'secrets engine secret/',
      'auth method kubernetes/',
      'kubernetes auth config',
      'policy grafana',
      'kubernetes role grafana',
      'policy harbor',
      'kubernetes role harbor',
      'secret grafana/admin-password',
      'secret harbor/admin-password',
      'secret harbor/cloudflare-api-token',
    ])
    expect(lines).toContain('policy grafana: would be created')
    expect(summaryLines(report)).toEqual(['would change 10, already in place 2, skipped 0'])
  })

  it('creates what is missing, generated values reaching the init file before OpenBao', async () => {
    const events: string[] = []
    const bao = fakeBao(nothingConfigured(), events)
    const store = memoryStore({ admin_token: ADMIN_TOKEN }, events)
    const { deps, generated } = harness(bao.call, store)
    const report = await reconcileOpenBao(setupOptions(), deps)
    expect(bao.writes().map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST sys/mounts/secret',
      'POST sys/auth/kubernetes',
      'POST auth/kubernetes/config',
      'PUT sys/policies/acl/grafana',
      'POST auth/kubernetes/role/grafana',
      'PUT sys/policies/acl/harbor',
      'POST auth/kubernetes/role/harbor',
      'POST secret/data/grafana',
      'POST secret/data/harbor',
    ])
    const body = (path: string) => bao.writes().find((c) => c.path === path)?.body
    expect(body('sys/mounts/secret')).toMatchObject({ type: 'kv', options: { version: '2' } })
    expect(body('auth/kubernetes/config')).toEqual({
      kubernetes_host: external.host,
      kubernetes_ca_cert: external.caCert,
      disable_local_ca_jwt: true,
    })
    expect(body('sys/policies/acl/grafana')).toEqual({ policy: appPolicy(apps[0] as OpenBaoAppConfig) })
    expect(body('auth/kubernetes/role/harbor')).toEqual(appRole(apps[1] as OpenBaoAppConfig))
    expect(body('secret/data/grafana')).toEqual({
      options: { cas: 0 },
      data: { 'admin-password': generated[0] },
    })
    expect(body('secret/data/harbor')).toEqual({
      options: { cas: 0 },
      data: { 'admin-password': generated[1], 'cloudflare-api-token': bootstrap.cloudflare_api_token },
    })
    expect(generated.map((g) => g.length)).toEqual([32, 24])
    // One init file write, with both generated values, before the first KV write.
    expect(store.writes).toHaveLength(1)
    expect(store.values).toEqual({
      admin_token: ADMIN_TOKEN,
      [generatedKey('grafana', 'admin-password')]: generated[0],
      [generatedKey('harbor', 'admin-password')]: generated[1],
    })
    expect(events.indexOf('init-file write')).toBeLessThan(events.indexOf('POST secret/data/grafana'))
    expect(report.writes).toBe(9)
  })

  it('adds a missing field to an existing path with the merged data and cas = current version', async () => {
    const answers = everythingInPlace()
    answers['GET secret/data/harbor'] = kv(
      { 'admin-password': liveValues.harbor['admin-password'], extra: 'hand-added' },
      7,
    )
    const bao = fakeBao(answers)
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    const report = await reconcileOpenBao(setupOptions(), deps)
    expect(bao.writes()).toEqual([
      {
        method: 'POST',
        path: 'secret/data/harbor',
        token: ADMIN_TOKEN,
        body: {
          options: { cas: 7 },
          data: {
            'admin-password': liveValues.harbor['admin-password'],
            extra: 'hand-added',
            'cloudflare-api-token': bootstrap.cloudflare_api_token,
          },
        },
      },
    ])
    expect(outcomes(report)).toContain('secret harbor/admin-password: kept')
    expect(outcomes(report)).toContain('secret harbor/cloudflare-api-token: created')
  })

  it('--rotate replaces exactly the named field; a rotation to the same value is skipped', async () => {
    const bao = fakeBao(everythingInPlace())
    const store = memoryStore(storedFile())
    const { deps, generated } = harness(bao.call, store)
    const rotate = parseRotations(['harbor/admin-password', 'harbor/cloudflare-api-token'], apps)
    const report = await reconcileOpenBao(setupOptions({ rotate }), deps)
    expect(bao.writes()).toEqual([
      {
        method: 'POST',
        path: 'secret/data/harbor',
        token: ADMIN_TOKEN,
        body: { options: { cas: 3 }, data: { ...liveValues.harbor, 'admin-password': generated[0] } },
      },
    ])
    expect(outcomes(report)).toContain('secret harbor/admin-password: replaced')
    expect(outcomes(report)).toContain('secret harbor/cloudflare-api-token: skipped')
    expect(outcomes(report)).toContain('secret grafana/admin-password: kept')
    expect(store.values?.[generatedKey('harbor', 'admin-password')]).toBe(generated[0])
    expect(store.values?.[generatedKey('grafana', 'admin-password')]).toBe(
      liveValues.grafana['admin-password'],
    )
  })

  it('a concurrent write (cas mismatch) is read again and not clobbered', async () => {
    const answers = everythingInPlace()
    let reads = 0
    answers['GET secret/data/grafana'] = () =>
      ++reads === 1 ? notFound : kv({ 'admin-password': 'theirs-planted-value' }, 1)
    answers['POST secret/data/grafana'] = {
      status: 400,
      body: { errors: ['check-and-set parameter did not match the current version'] },
    }
    const bao = fakeBao(answers)
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    const report = await reconcileOpenBao(setupOptions(), deps)
    expect(bao.writes().map((c) => c.path)).toEqual(['secret/data/grafana'])
    expect(
      report.entries.filter((e) => e.subject === 'secret grafana/admin-password').map((e) => e.outcome),
    ).toEqual(['created', 'kept'])
  })

  it('a value changed by hand is kept, and becomes the copy in the init file', async () => {
    const answers = everythingInPlace()
    answers['GET secret/data/grafana'] = kv({ 'admin-password': 'changed-by-hand-planted' }, 2)
    const bao = fakeBao(answers)
    const store = memoryStore(storedFile())
    const { deps } = harness(bao.call, store)
    const report = await reconcileOpenBao(setupOptions(), deps)
    expect(bao.writes()).toEqual([])
    expect(store.values?.[generatedKey('grafana', 'admin-password')]).toBe('changed-by-hand-planted')
    expect(report.entries.find((e) => e.subject === 'secret grafana/admin-password')?.note).toContain(
      'updated to the live value',
    )
  })

  it('renews the admin token only in the second half of its period', async () => {
    const answers = everythingInPlace()
    answers['GET auth/token/lookup-self'] = adminLookup(86400)
    const bao = fakeBao(answers)
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    await reconcileOpenBao(setupOptions(), deps)
    expect(bao.writes().map((c) => `${c.method} ${c.path} ${c.token}`)).toEqual([
      `POST auth/token/renew-self ${ADMIN_TOKEN}`,
    ])
  })

  it('refuses an app named like a policy OpenBao or setup owns', async () => {
    const bao = fakeBao(everythingInPlace())
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    const bad = { ...(apps[0] as OpenBaoAppConfig), name: ADMIN_POLICY }
    const error = await caught(reconcileOpenBao(setupOptions({ apps: [bad] }), deps))
    expect(error.message).toContain(`may not be named "${ADMIN_POLICY}"`)
    expect(bao.calls).toEqual([])
  })

  it('refuses a secret/ mount that is not KV v2, changing nothing', async () => {
    const answers = everythingInPlace()
    answers['GET sys/mounts'] = ok({ 'secret/': { type: 'kv', options: { version: '1' } } })
    const bao = fakeBao(answers)
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    const error = await caught(reconcileOpenBao(setupOptions(), deps))
    expect(error.message).toContain('secret/ mounted as kv v1, not KV v2')
    expect(bao.writes()).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Against real OpenBao 2.7.2 binaries.

describe('against a real OpenBao dev server', () => {
  let dev: OpenBaoDev
  let store: MemoryStore
  const devApps: OpenBaoAppConfig[] = [
    apps[0] as OpenBaoAppConfig,
    {
      ...(apps[1] as OpenBaoAppConfig),
      secrets: { ...(apps[1] as OpenBaoAppConfig).secrets, 'robot-token': { generate: 40 } },
    },
  ]
  const options = (overrides: Partial<SetupOptions> = {}) =>
    setupOptions({ address: dev.address, apps: devApps, waitMs: 5000, ...overrides })
  const kvData = async (app: string) =>
    (
      (await dev.api('GET', `secret/data/${app}`)).body as {
        data: { data: Record<string, string>; metadata: { version: number } }
      }
    ).data

  beforeAll(async () => {
    dev = await startOpenBaoDev()
    // The dev server is initialised by `-dev`: give setup what a first run would have left, an admin token.
    await dev.writePolicy(ADMIN_POLICY, adminPolicy())
    store = memoryStore({ admin_token: await dev.createToken([ADMIN_POLICY], '768h') })
  })
  afterAll(async () => {
    await dev?.stop()
  })

  it('configures everything with only the admin policy, then a second run sends no write', async () => {
    const first = counting(nodeVaultCall(dev.address))
    const report = await reconcileOpenBao(options(), realDeps(first, store))
    expect(first.writes.map((w) => w.path)).toEqual([
      'sys/auth/kubernetes',
      'auth/kubernetes/config',
      'sys/policies/acl/grafana',
      'auth/kubernetes/role/grafana',
      'sys/policies/acl/harbor',
      'auth/kubernetes/role/harbor',
      'secret/data/grafana',
      'secret/data/harbor',
    ])
    expect(outcomes(report)).toContain('secrets engine secret/: unchanged') // -dev mounts KV v2 itself
    const harbor = await kvData('harbor')
    expect(harbor.data['cloudflare-api-token']).toBe(bootstrap.cloudflare_api_token)
    expect(harbor.data['robot-token']).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(store.values?.[generatedKey('harbor', 'robot-token')]).toBe(harbor.data['robot-token'])
    expect((await dev.api('GET', 'auth/kubernetes/role/grafana')).body).toMatchObject({
      data: appRole(devApps[0] as OpenBaoAppConfig),
    })

    const writesBefore = store.writes.length
    const second = counting(nodeVaultCall(dev.address))
    const again = await reconcileOpenBao(options(), realDeps(second, store))
    expect(second.writes).toEqual([])
    expect(again.writes).toBe(0)
    expect(store.writes.length).toBe(writesBefore)
    expect(again.entries.every((e) => e.outcome === 'unchanged' || e.outcome === 'kept')).toBe(true)
  })

  it('each app policy reads its own path and is denied another app', async () => {
    const token = await dev.createToken(['grafana'])
    expect((await dev.api('GET', 'secret/data/grafana', undefined, token)).status).toBe(200)
    expect((await dev.api('GET', 'secret/data/harbor', undefined, token)).status).toBe(403)
    expect((await dev.api('POST', 'secret/data/grafana', { data: { x: 'y' } }, token)).status).toBe(403)
  })

  it('a value changed by hand survives another run', async () => {
    const before = await kvData('grafana')
    await dev.api('POST', 'secret/data/grafana', {
      options: { cas: before.metadata.version },
      data: { 'admin-password': 'set-by-hand-planted' },
    })
    const call = counting(nodeVaultCall(dev.address))
    const report = await reconcileOpenBao(options(), realDeps(call, store))
    expect(call.writes).toEqual([])
    expect((await kvData('grafana')).data['admin-password']).toBe('set-by-hand-planted')
    expect(store.values?.[generatedKey('grafana', 'admin-password')]).toBe('set-by-hand-planted')
    expect(report.entries.find((e) => e.subject === 'secret grafana/admin-password')?.outcome).toBe('kept')
  })

  it('--rotate replaces exactly one field', async () => {
    const before = await kvData('harbor')
    const call = counting(nodeVaultCall(dev.address))
    await reconcileOpenBao(
      options({ rotate: parseRotations(['harbor/robot-token'], devApps) }),
      realDeps(call, store),
    )
    expect(call.writes.map((w) => w.path)).toEqual(['secret/data/harbor'])
    const after = await kvData('harbor')
    expect(after.metadata.version).toBe(before.metadata.version + 1)
    expect(after.data['robot-token']).not.toBe(before.data['robot-token'])
    expect(after.data['robot-token']).toMatch(/^[A-Za-z0-9]{40}$/)
    expect({ ...after.data, 'robot-token': '' }).toEqual({ ...before.data, 'robot-token': '' })
    expect(store.values?.[generatedKey('harbor', 'robot-token')]).toBe(after.data['robot-token'])
  })

  it('a wrong token: a clear error naming the init file, nothing written', async () => {
    const call = counting(nodeVaultCall(dev.address))
    const wrong = memoryStore({ admin_token: 's.notAValidTokenAtAll000000' })
    const error = await caught(reconcileOpenBao(options(), realDeps(call, wrong)))
    expect(error.message).toContain(`rejected the admin token in environments/test/openbao.sops.yaml`)
    expect(error.hint).toContain('bao operator generate-root')
    expect(call.writes).toEqual([])
  })

  it('a stopped OpenBao: a clear error naming the address', async () => {
    const gone = await startOpenBaoDev()
    await gone.stop()
    const error = await caught(
      reconcileOpenBao(
        options({ address: gone.address, waitMs: 1500 }),
        realDeps(nodeVaultCall(gone.address), store),
      ),
    )
    expect(error.message).toMatch(
      new RegExp(`^OpenBao at ${gone.address} did not answer within 2 s \\(ECONNREFUSED`),
    )
  })
})
