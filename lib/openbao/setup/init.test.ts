import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../../tests/helpers/caught.ts'
import { findBao } from '../../../tests/helpers/openbao-dev.ts'
import {
  ADMIN_TOKEN,
  type Answer,
  apps,
  auths,
  bootstrap,
  counting,
  everythingInPlace,
  external,
  fakeBao,
  harness,
  liveValues,
  memoryStore,
  mounts,
  noContent,
  ok,
  outcomes,
  realDeps,
  sealStatus,
  setupOptions,
  storedFile,
} from '../../../tests/helpers/openbao-fakes.ts'
import { generateIdentity, writeKeyFile } from '../../bootstrap-secrets/age.ts'
import { run } from '../../core/exec.ts'
import { freePort } from '../../local/process/ports.ts'
import { decrypt, type SopsDeps, writeEncrypted } from '../../sops/index.ts'
import { type BaoCall, type BaoRequest, nodeVaultCall } from '../client.ts'
import { generatedKey, sopsInitStore } from '../init-store.ts'
import { reconcileOpenBao } from './index.ts'
import { ADMIN_POLICY } from './policy.ts'
import { formatEntry, summaryLines } from './report.ts'
import { parseRotations } from './secrets.ts'

describe('first run on an uninitialised OpenBao (recorded static-seal responses)', () => {
  const ROOT = 's.plantedRootToken0123456789'
  const RECOVERY_HEX = '4e862b8ec3297c7c1b754645eb188af88cb62f93fca23bf30d46c6e78d36a617'
  const RECOVERY_B64 = 'ToYrjsMpfHwbdUZF6xiK+Iy2L5P8ojvzDUbG5402phc='
  const NEW_ADMIN = 's.plantedNewAdminToken01234567'

  function uninitialised(): Record<string, Answer> {
    let initialised = false
    let rootRevoked = false
    return {
      'GET sys/seal-status': () => sealStatus(initialised),
      'PUT sys/init': () => {
        initialised = true
        return {
          status: 200,
          body: {
            keys: [],
            keys_base64: [],
            recovery_keys: [RECOVERY_HEX],
            recovery_keys_base64: [RECOVERY_B64],
            root_token: ROOT,
          },
        }
      },
      'POST auth/token/create': {
        status: 200,
        body: {
          auth: { client_token: NEW_ADMIN, accessor: 'newacc', policies: [ADMIN_POLICY], orphan: true },
        },
      },
      'POST auth/token/revoke-self': (request) => {
        rootRevoked = request.token === ROOT
        return noContent
      },
      'GET sys/mounts': mounts(false),
      'GET sys/auth': auths(false),
      'GET auth/token/lookup-self': (request) =>
        request.token === ROOT && !rootRevoked
          ? ok({ ttl: 0, period: 0, policies: ['root'] })
          : { status: 403, body: { errors: ['permission denied'] } },
    }
  }

  it('initialises with recovery shares, keeps the material encrypted, swaps the root token for an orphan admin token', async () => {
    const events: string[] = []
    const bao = fakeBao(uninitialised(), events)
    const store = memoryStore(undefined, events)
    const { deps, generated } = harness(bao.call, store)
    const report = await reconcileOpenBao(setupOptions(), deps)

    expect(events.slice(0, 2)).toEqual(['preflight', 'PUT sys/init'])
    const init = bao.writes()[0] as BaoRequest
    expect(init).toEqual({
      method: 'PUT',
      path: 'sys/init',
      token: '',
      body: { recovery_shares: 1, recovery_threshold: 1 },
      // raft's leader election happens inside init: it gets far longer than the usual 10 s.
      timeoutMs: 60_000,
    })
    const create = bao.writes().find((c) => c.path === 'auth/token/create')
    expect(create?.token).toBe(ROOT)
    expect(create?.body).toMatchObject({
      policies: [ADMIN_POLICY],
      no_parent: true,
      no_default_policy: true,
      period: '768h',
      renewable: true,
    })
    expect(bao.writes().find((c) => c.path === 'auth/token/revoke-self')?.token).toBe(ROOT)
    // After the revocation, everything runs with the admin token.
    const afterRevoke = bao.calls.slice(bao.calls.findIndex((c) => c.path === 'auth/token/revoke-self') + 1)
    expect(afterRevoke.filter((c) => c.path !== 'sys/seal-status').every((c) => c.token === NEW_ADMIN)).toBe(
      true,
    )

    // The init file: material first, then the admin token beside the root token, then the root token gone.
    expect(store.writes[0]).toEqual({
      initialized_at: '2026-11-23T12:00:00.000Z',
      root_token: ROOT,
      recovery_key_1: RECOVERY_B64,
      recovery_threshold: '1',
    })
    expect(store.writes[1]).toMatchObject({
      root_token: ROOT,
      admin_token: NEW_ADMIN,
      admin_token_accessor: 'newacc',
    })
    expect(store.writes[2]).not.toHaveProperty('root_token')
    expect(store.values).toEqual({
      initialized_at: '2026-11-23T12:00:00.000Z',
      recovery_key_1: RECOVERY_B64,
      recovery_threshold: '1',
      admin_token: NEW_ADMIN,
      admin_token_accessor: 'newacc',
      root_token_revoked_at: '2026-11-23T12:00:00.000Z',
      [generatedKey('grafana', 'admin-password')]: generated[0],
      [generatedKey('harbor', 'admin-password')]: generated[1],
    })
    expect(outcomes(report).slice(0, 4)).toEqual([
      'OpenBao: created',
      `policy ${ADMIN_POLICY}: created`,
      'admin token: created',
      'root token: updated',
    ])
  })

  it('with a storage to name, marks it in the init file before asking to initialise, and clears the mark with the answer', async () => {
    const events: string[] = []
    const bao = fakeBao(uninitialised(), events)
    const store = memoryStore(undefined, events)
    const { deps } = harness(bao.call, store)
    const storage = { id: async () => 'storage-1', reset: async () => {} }
    await reconcileOpenBao(setupOptions({ storage }), deps)
    expect(events.slice(0, 2)).toEqual(['init-file write', 'PUT sys/init'])
    expect(Object.keys(store.writes[0] ?? {})).toEqual(['init_pending_storage'])
    expect(store.writes[1]).not.toHaveProperty('init_pending_storage')
    expect(store.values).not.toHaveProperty('init_pending_storage')
  })

  it('a run killed after asking to initialise, before saving the answer: the next run starts that storage over and initialises again', async () => {
    const answers = uninitialised()
    const bao = fakeBao(answers)
    let storage = 'storage-1'
    const resets: string[] = []
    const options = setupOptions({
      storage: {
        id: async () => storage,
        reset: async () => {
          resets.push(storage)
          storage = 'storage-2'
          // The new storage is empty: OpenBao answers uninitialised again.
          Object.assign(answers, uninitialised())
        },
      },
    })
    // The killed run: its mark saved, OpenBao initialised, then the process gone before the answer was written.
    const killed = memoryStore()
    const dies = {
      ...killed,
      write: async (values: Record<string, string>) => {
        if (killed.writes.length) throw new Error('killed')
        await killed.write(values)
      },
    }
    await expect(reconcileOpenBao(options, harness(bao.call, dies).deps)).rejects.toThrow('killed')
    expect(bao.writes().map((c) => c.path)).toContain('sys/init')

    const store = memoryStore(killed.values)
    const { deps, lines } = harness(bao.call, store)
    await reconcileOpenBao(options, deps)
    expect(resets).toEqual(['storage-1'])
    expect(lines.join('\n')).toContain('initialised by a run that stopped before saving the answer')
    expect(store.values?.admin_token).toBe(NEW_ADMIN)
    expect(store.values).not.toHaveProperty('init_pending_storage')
  })

  it('an initialised OpenBao on another storage than the mark names is never started over', async () => {
    const bao = fakeBao({ ...uninitialised(), 'GET sys/seal-status': () => sealStatus(true) })
    const store = memoryStore({ init_pending_storage: 'a'.repeat(64), admin_token: ADMIN_TOKEN })
    const resets: string[] = []
    const { deps } = harness(bao.call, store)
    const storage = { id: async () => 'another', reset: async () => void resets.push('reset') }
    await reconcileOpenBao(setupOptions({ storage }), deps).catch(() => undefined)
    expect(resets).toEqual([])
  })

  it('on a recreated OpenBao, reuses the generated values kept from the previous one', async () => {
    const bao = fakeBao(uninitialised())
    const previous = { ...storedFile(), admin_token: 's.plantedOldAdminToken000000' }
    const store = memoryStore(previous)
    const { deps, generated, lines } = harness(bao.call, store)
    await reconcileOpenBao(setupOptions(), deps)
    expect(generated).toEqual([])
    const written = (path: string) =>
      bao.writes().find((c) => c.path === path)?.body as { data: Record<string, string> }
    expect(written('secret/data/grafana').data['admin-password']).toBe(liveValues.grafana['admin-password'])
    expect(written('secret/data/harbor').data['admin-password']).toBe(liveValues.harbor['admin-password'])
    expect(store.writes[0]).not.toHaveProperty('admin_token')
    expect(store.writes[0]).toHaveProperty(generatedKey('grafana', 'admin-password'))
    expect(store.values?.admin_token).toBe(NEW_ADMIN)
    expect(lines.some((l) => l.includes('replacing the keys and token of an earlier OpenBao'))).toBe(true)
  })

  it('dry run: says it would initialise and create everything, sends only reads', async () => {
    const bao = fakeBao(uninitialised())
    const store = memoryStore()
    const { deps } = harness(bao.call, store)
    const report = await reconcileOpenBao(setupOptions({ dryRun: true }), deps)
    expect(bao.writes()).toEqual([])
    expect(bao.calls.map((c) => c.path)).toEqual(['sys/seal-status'])
    expect(store.writes).toEqual([])
    expect(store.preflights).toBe(0)
    expect(report.entries.every((e) => e.outcome === 'created' || e.outcome === 'updated')).toBe(true)
    expect(report.entries).toHaveLength(4 + 3 + 4 + 3)
  })

  it('a run interrupted after initialisation resumes with the stored root token and revokes it', async () => {
    const answers = uninitialised()
    const bao = fakeBao({ ...answers, 'GET sys/seal-status': sealStatus(true) })
    const store = memoryStore({ initialized_at: 'x', root_token: ROOT, recovery_key_1: RECOVERY_B64 })
    const { deps } = harness(bao.call, store)
    await reconcileOpenBao(setupOptions(), deps)
    expect(
      bao
        .writes()
        .slice(0, 3)
        .map((c) => `${c.path} ${c.token}`),
    ).toEqual([
      `sys/policies/acl/${ADMIN_POLICY} ${ROOT}`,
      `auth/token/create ${ROOT}`,
      `auth/token/revoke-self ${ROOT}`,
    ])
    expect(store.values?.admin_token).toBe(NEW_ADMIN)
    expect(store.values).not.toHaveProperty('root_token')
  })

  it('the summary and every line it printed hold no value', async () => {
    const bao = fakeBao(uninitialised())
    const store = memoryStore()
    const { deps, lines, generated } = harness(bao.call, store)
    const report = await reconcileOpenBao(
      setupOptions({ rotate: parseRotations(['grafana/admin-password'], apps) }),
      deps,
    )
    const printed = [
      ...lines,
      ...summaryLines(report),
      ...report.entries.map((e) => formatEntry(e, false)),
    ].join('\n')
    const secrets = [
      ROOT,
      RECOVERY_HEX,
      RECOVERY_B64,
      NEW_ADMIN,
      bootstrap.cloudflare_api_token,
      ...generated,
      external.caCert.split('\n')[1] as string,
    ]
    expect(generated.length).toBeGreaterThan(0)
    for (const secret of secrets) expect(printed).not.toContain(secret)
    expect(printed).toContain('secret grafana/admin-password: created')
  })
})

describe('errors', () => {
  it('a rejected admin token names the init file and how to recover; nothing is written', async () => {
    const answers = everythingInPlace()
    answers['GET auth/token/lookup-self'] = { status: 403, body: { errors: ['permission denied'] } }
    const bao = fakeBao(answers)
    const { deps } = harness(bao.call, memoryStore(storedFile()))
    const error = await caught(reconcileOpenBao(setupOptions(), deps))
    expect(error.message).toBe(
      'OpenBao at http://127.0.0.1:8200 rejected the admin token in environments/test/openbao.sops.yaml (403: expired, revoked, or from another OpenBao)',
    )
    expect(error.hint).toContain('recovery keys in environments/test/openbao.sops.yaml')
    expect(error.hint).toContain('bao operator generate-root')
    expect(error.message + error.hint).not.toContain(ADMIN_TOKEN)
    expect(bao.writes()).toEqual([])
  })

  it('an init file without any token: names it, and how to make one', async () => {
    const bao = fakeBao(everythingInPlace())
    const { deps } = harness(
      bao.call,
      memoryStore({ [generatedKey('grafana', 'admin-password')]: 'kept-planted-value' }),
    )
    const error = await caught(reconcileOpenBao(setupOptions(), deps))
    expect(error.message).toBe(
      'environments/test/openbao.sops.yaml holds no token for OpenBao at http://127.0.0.1:8200',
    )
    expect(error.hint).toContain('store it in the init file as root_token')
  })

  it('an initialised OpenBao without an init file: names the file', async () => {
    const bao = fakeBao(everythingInPlace())
    const { deps } = harness(bao.call, memoryStore())
    const error = await caught(reconcileOpenBao(setupOptions(), deps))
    expect(error.message).toContain('the init file environments/test/openbao.sops.yaml does not exist')
    expect(error.hint).toContain('generate-root')
  })

  it('an address nobody answers at: bounded wait, then an error naming it', async () => {
    const call: BaoCall = async () => {
      throw Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })
    }
    const { deps, clock } = harness(call, memoryStore())
    const started = clock.now
    const error = await caught(reconcileOpenBao(setupOptions({ waitMs: 5000 }), deps))
    expect(error.message).toBe('OpenBao at http://127.0.0.1:8200 did not answer within 5 s (ECONNREFUSED)')
    expect(clock.now - started).toBe(5000)
  })
})

// ---------------------------------------------------------------------------------------------
// Against real OpenBao 2.7.2 binaries.

/** A real, non-dev OpenBao: raft storage, static seal from a key file; initialised by setup itself. */
interface StaticSealBao {
  address: string
  stop(): Promise<void>
}

async function startStaticSealBao(dir: string, keyFile: string): Promise<StaticSealBao> {
  const binary = findBao()
  if (!binary) throw new Error('bao not found: run `just tools` (or set BAO_BINARY)')
  const [api, cluster] = [await freePort(), await freePort()]
  const data = join(dir, 'raft')
  await mkdir(data, { recursive: true })
  const config = join(dir, 'config.hcl')
  await writeFile(
    config,
    `storage "raft" {\n  path = "${data}"\n  node_id = "test"\n}\nlistener "tcp" {\n  address = "127.0.0.1:${api}"\n  cluster_address = "127.0.0.1:${cluster}"\n  tls_disable = 1\n}\nseal "static" {\n  current_key_id = "test-1"\n  current_key = "file://${keyFile}"\n}\napi_addr = "http://127.0.0.1:${api}"\ncluster_addr = "https://127.0.0.1:${cluster}"\n`,
  )
  const child: ChildProcess = execa(binary, ['server', `-config=${config}`], {
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    extendEnv: false,
    stdin: 'ignore',
    buffer: false,
    reject: false,
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => {
    output += c
  })
  child.stderr?.on('data', (c: Buffer) => {
    output += c
  })
  const address = `http://127.0.0.1:${api}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bao server exited:\n${output}`)
    const answered = await fetch(`${address}/v1/sys/seal-status`).then(
      (r) => r.ok,
      () => false,
    )
    if (answered) break
    if (Date.now() > deadline) throw new Error(`bao server not answering:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    address,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}

describe('against a real static-seal OpenBao, initialised by setup, with the real sops', () => {
  let dir: string
  let sopsDeps: SopsDeps
  let initFile: string
  let bootstrapFile: string
  let unsealKey: string
  let server: StaticSealBao | undefined

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openbao-setup-'))
    const personal = await generateIdentity()
    const cluster = await generateIdentity()
    const keyFile = join(dir, 'keys.txt')
    await writeKeyFile(keyFile, personal.identity)
    // cwd = the temp dir: no .sops.yaml of the checkout applies.
    sopsDeps = {
      run: (c, a, o) => run(c, a, { ...o, cwd: dir }),
      env: { ...process.env, SOPS_AGE_KEY_FILE: keyFile },
    }
    bootstrapFile = join(dir, 'secrets.sops.yaml')
    await writeEncrypted(bootstrapFile, { ...bootstrap }, [personal.recipient, cluster.recipient], sopsDeps)
    initFile = join(dir, 'openbao.sops.yaml')
    unsealKey = join(dir, 'unseal.key')
    await writeFile(unsealKey, randomBytes(32).toString('base64'), { mode: 0o600 })
  })
  afterAll(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const runSetup = async (address: string) => {
    const call = counting(nodeVaultCall(address))
    let root = ''
    const spying: BaoCall = async (request) => {
      const response = await call(request)
      if (request.path === 'sys/init') root = (response.body as { root_token: string }).root_token
      return response
    }
    const report = await reconcileOpenBao(
      setupOptions({
        address,
        initFile,
        waitMs: 30_000,
        bootstrapValues: async () => decrypt(bootstrapFile, {}, sopsDeps),
      }),
      realDeps(spying, sopsInitStore(initFile, bootstrapFile, sopsDeps)),
    )
    return { report, writes: call.writes, root }
  }

  it('initialises, stores the material encrypted, revokes root; then a run writes nothing, also after a restart', async () => {
    const storage = join(dir, 'cluster-1')
    server = await startStaticSealBao(storage, unsealKey)
    const first = await runSetup(server.address)
    expect(first.root).toMatch(/^s\./)
    expect(first.report.initFileWrites).toBe(4) // material, admin token, root revoked, generated values

    const onDisk = await readFile(initFile, 'utf8')
    const stored = await decrypt(initFile, {}, sopsDeps)
    expect(Object.keys(stored).sort()).toEqual([
      'admin_token',
      'admin_token_accessor',
      generatedKey('grafana', 'admin-password'),
      generatedKey('harbor', 'admin-password'),
      'initialized_at',
      'recovery_key_1',
      'recovery_threshold',
      'root_token_revoked_at',
    ])
    // The timestamps (…_at) are no secret, and sops writes its own lastmodified in the clear: in
    // the same second they match. Every other value must not be on disk as it is.
    for (const [key, value] of Object.entries(stored).filter(([k, v]) => v.length >= 8 && !k.endsWith('_at')))
      expect(onDisk, key).not.toContain(value)
    expect(onDisk).not.toContain(first.root)
    // The root token is revoked; the admin token works.
    const lookup = (token: string) =>
      fetch(`${server?.address}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': token } }).then(
        (r) => r.status,
      )
    expect(await lookup(first.root)).toBe(403)
    expect(await lookup(stored.admin_token as string)).toBe(200)

    const second = await runSetup(server.address)
    expect(second.writes).toEqual([])
    expect(second.report.initFileWrites).toBe(0)

    // Restarted on the same storage, it unseals itself from the key file: still nothing to do.
    await server.stop()
    server = await startStaticSealBao(storage, unsealKey)
    const third = await runSetup(server.address)
    expect(third.writes).toEqual([])
  })

  it('destroyed and recreated: initialised anew, the generated values come back', async () => {
    const before = await decrypt(initFile, {}, sopsDeps)
    await server?.stop()
    server = await startStaticSealBao(join(dir, 'cluster-2'), unsealKey)
    const { report } = await runSetup(server.address)
    expect(report.entries[0]).toMatchObject({ subject: 'OpenBao', outcome: 'created' })
    const after = await decrypt(initFile, {}, sopsDeps)
    expect(after.recovery_key_1).not.toBe(before.recovery_key_1)
    expect(after.admin_token).not.toBe(before.admin_token)
    const read = async (app: string) =>
      (
        (await (
          await fetch(`${server?.address}/v1/secret/data/${app}`, {
            headers: { 'X-Vault-Token': after.admin_token as string },
          })
        ).json()) as { data: { data: Record<string, string> } }
      ).data.data
    expect((await read('grafana'))['admin-password']).toBe(before[generatedKey('grafana', 'admin-password')])
    expect((await read('harbor'))['admin-password']).toBe(before[generatedKey('harbor', 'admin-password')])
    expect(report.entries.find((e) => e.subject === 'secret grafana/admin-password')?.note).toContain(
      'restored from',
    )
  })
})
