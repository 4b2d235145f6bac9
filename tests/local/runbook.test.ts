import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import { execaSync } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { ARGOCD_USER } from '../../lib/argocd/settings.ts'
import { REFRESH_ANNOTATION } from '../../lib/argocd/status.ts'
import { writeDemoOverlaySecret } from '../../lib/bootstrap-secrets/first-run.ts'
import { run } from '../../lib/core/exec.ts'
import { waitFor } from '../../lib/core/wait.ts'
import type { KObject } from '../../lib/kube/client.ts'
import { ASK_PASS_SOCKET_ENV } from '../../lib/local/argocd/argocd.ts'
import { localLayout, servedReposDir } from '../../lib/local/layout.ts'
import { Processes } from '../../lib/local/process/processes.ts'
import { INIT_KEYS } from '../../lib/openbao/init-store.ts'
import { Logger } from '../../lib/runner/log.ts'
import { decrypt } from '../../lib/sops/index.ts'
import {
  ageKeySecretHolds,
  applicationsConverged,
  bootstrapSecretsExist,
  driftRepairedAfterControllerRestart,
  failed,
  namespacesExist,
  refusedByProject,
  repositorySecretsExist,
  rootApplicationExists,
  secretHolds,
  type Verdict,
} from '../assertions/assertions.ts'
import { CONSUMER_APP, CONSUMER_POLICY, plantOpenBaoConsumer } from './openbao-consumer.ts'
import { plantFaults, REFUSED_APP, REJECTED_APP } from './planted-faults.ts'
import { restartApiserver } from './restart-apiserver.ts'
import { stackStatus } from './stack-status.ts'
import { makeWorkspace, type Workspace } from './workspace.ts'

/**
 * The runbook end to end on the local provider, as a person runs it: `create local`, then
 * `openbao-setup local`, against real etcd, kube-apiserver, controller-manager, kwok, Argo CD's
 * controllers, OpenBao, sops and age. One stack for the whole file, in the order a platform
 * engineer lives it: create, guarantees, re-run, fallback, faults, destroy and recreate, leaks.
 */
const CREATE = 'scripts/create.ts'
const SETUP = 'scripts/09-openbao-setup.ts'
const DESTROY = 'scripts/destroy.ts'
const EXPECTED_APPS = [
  'root',
  'platform-config',
  'tenant-onboarding',
  'tenant-a',
  'cluster-secrets',
  CONSUMER_APP,
]
const quiet = new Logger({ sink: { out: () => {}, err: () => {} } })

let ws: Workspace
const phases: [string, number][] = []

async function timed<T>(name: string, body: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await body()
  } finally {
    phases.push([name, performance.now() - started])
  }
}

function expectOk(result: { code: number; output: string }, what: string): void {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.output.slice(-4000)}`)
}

function expectVerdicts(verdicts: Verdict[]): void {
  const bad = failed(verdicts)
  expect(bad.map((v) => `${v.name}: ${v.message}`)).toEqual([])
}

/** Where Argo CD's processes reach redis: argocd-cmd-params-cm's redis.server, a unix socket. */
async function redisSocketPath(): Promise<string> {
  const params = await ws.kube().get({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: 'argocd-cmd-params-cm',
    namespace: 'argocd',
  })
  return String((params?.data as Record<string, string> | undefined)?.['redis.server'])
}

function redisAnswer(path: string, command: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect({ path }, () => socket.write(`${command}\r\n`))
    socket.setTimeout(5000, () => reject(new Error('redis did not answer')))
    socket.once('data', (data) => {
      socket.destroy()
      resolve(data.toString())
    })
    socket.once('error', reject)
  })
}

async function platformVerdicts(): Promise<Verdict[]> {
  const kube = ws.kube()
  const repos = servedReposDir(localLayout(stateDir()))
  const served = [`file://${join(repos, 'platform')}`, `file://${join(repos, 'tenant-tenant-a')}`]
  return [
    await namespacesExist(kube, ws.env),
    await ageKeySecretHolds(kube, ws.env, ws.clusterIdentity),
    await repositorySecretsExist(kube, ws.env, served),
    await bootstrapSecretsExist(kube, ws.env, ws.planted),
    await rootApplicationExists(kube, ws.env),
    await applicationsConverged(kube, ws.env, EXPECTED_APPS),
    await secretHolds(kube, 'platform-system', 'demo-credentials', 'password', ws.demoPassword),
  ]
}

/** resourceVersions of every object the runbook itself writes (not what Argo CD syncs). */
async function ownedVersions(): Promise<Record<string, string>> {
  const kube = ws.kube()
  const out: Record<string, string> = {}
  for (const ns of ws.env.namespaces) {
    const namespace = await kube.get({ apiVersion: 'v1', kind: 'Namespace', name: ns })
    out[`Namespace/${ns}`] = namespace?.metadata.resourceVersion ?? 'missing'
  }
  const owned = await kube.list('v1', 'Secret', undefined, 'app.kubernetes.io/managed-by=platform-bootstrap')
  for (const secret of owned)
    out[`Secret/${secret.metadata.namespace}/${secret.metadata.name}`] = secret.metadata.resourceVersion ?? ''
  const cm = await kube.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'argocd-cm', namespace: 'argocd' })
  out['ConfigMap/argocd/argocd-cm'] = cm?.metadata.resourceVersion ?? 'missing'
  return out
}

async function openbaoValues(): Promise<Record<string, Record<string, string>>> {
  const token = await adminToken()
  const address = openbaoAddress()
  const values: Record<string, Record<string, string>> = {}
  for (const app of ws.env.openbao.apps) {
    const response = await fetch(`${address}/v1/secret/data/${app.name}`, {
      headers: { 'X-Vault-Token': token },
    })
    const body = (await response.json()) as { data?: { data?: Record<string, string> } }
    values[app.name] = body.data?.data ?? {}
  }
  return values
}

function openbaoAddress(): string {
  const record = new Processes(join(ws.stateDir, 'local')).record('openbao')
  const port = record && Object.values(record.ports)[0]
  if (!port) throw new Error('the local OpenBao is not running')
  return `http://127.0.0.1:${port}`
}

/** The OpenBao admin token openbao-setup keeps in the environment's SOPS-encrypted init file. */
async function adminToken(): Promise<string> {
  const init = await decrypt(join(ws.dir, ws.env.openbao.initFile), { ageKeyFile: ws.keyFile })
  const token = init[INIT_KEYS.adminToken]
  if (!token) throw new Error(`no ${INIT_KEYS.adminToken} in ${ws.env.openbao.initFile}`)
  return token
}

const stateDir = () => join(ws.stateDir, 'local')
const apps = () => ws.kube().list('argoproj.io/v1alpha1', 'Application', 'argocd')

let consumer: ReturnType<typeof plantOpenBaoConsumer>

beforeAll(async () => {
  ws = await makeWorkspace()
  consumer = plantOpenBaoConsumer(ws.dir, ws.env)
})

afterAll(async () => {
  await ws?.dispose()
  for (const [name, ms] of phases)
    process.stdout.write(`phase ${name.padEnd(34)} ${(ms / 1000).toFixed(1)} s\n`)
})

describe('create local, then openbao-setup local', () => {
  let created = ''

  it('creates every promised object and converges', async () => {
    const result = await timed('create (cold)', () => ws.cli(CREATE))
    expectOk(result, 'create')
    created = result.output
    expectOk(await timed('openbao-setup (again)', () => ws.cli(SETUP)), 'openbao-setup')
    expectVerdicts(await platformVerdicts())
  })

  it('08 leaves the Application that needs openbao-setup for 09, which waits for it once it has run', async () => {
    const step08 = created.slice(created.indexOf('[08]'), created.indexOf('[09]'))
    expect(step08).toMatch(new RegExp(`left for openbao-setup, which they need first: .*${CONSUMER_APP} `))
    expect(created.slice(created.indexOf('[09]'))).toMatch(/\d+ Applications Synced\/Healthy after/)
    // It really could not be Healthy before 09: its pod was refused until 09 bound its ServiceAccount.
    const kube = ws.kube()
    const binding = await kube.get({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      name: consumer.binding,
    })
    const [pod] = await kube.list('v1', 'Pod', consumer.namespace)
    expect(binding, `ClusterRoleBinding ${consumer.binding}`).toBeDefined()
    expect(pod, `a pod in ${consumer.namespace}`).toBeDefined()
    const at = (object: KObject | undefined) => Date.parse(String(object?.metadata.creationTimestamp))
    expect(at(pod)).toBeGreaterThanOrEqual(at(binding))
    // And the gate is real: a pod whose ServiceAccount openbao-setup did not bind is refused.
    const unbound = await kube
      .apply({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unbound-consumer', namespace: consumer.namespace },
        spec: { serviceAccountName: 'default', containers: [{ name: 'x', image: 'registry.invalid/x:1' }] },
      } as KObject)
      .then(
        () => 'admitted',
        (error: unknown) => String((error as { body?: unknown }).body ?? error),
      )
    expect(unbound).toContain(CONSUMER_POLICY)
  })

  it('argocd-server answers the argocd CLI: admin logs in with the initial admin secret and lists every app Synced/Healthy', async () => {
    const server = new Processes(stateDir()).record('argocd-server')?.ports.http
    expect(server, 'argocd-server has a port').toBeDefined()
    const secret = await ws.kube().get({
      apiVersion: 'v1',
      kind: 'Secret',
      name: 'argocd-initial-admin-secret',
      namespace: 'argocd',
    })
    const password = Buffer.from(
      (secret?.data as Record<string, string>)?.password ?? '',
      'base64',
    ).toString()
    expect(password.length, 'argocd-server made the initial admin password').toBeGreaterThan(0)
    // The CLI's config in the workspace, never in the user's home.
    const config = ['--config', join(ws.stateDir, 'argocd-cli', 'config')]
    await run('argocd', [
      'login',
      `127.0.0.1:${server}`,
      '--plaintext',
      '--username',
      'admin',
      '--password',
      password,
      ...config,
    ])
    const listed = JSON.parse((await run('argocd', ['app', 'list', '-o', 'json', ...config])).stdout) as {
      metadata: { name: string }
      status: { sync: { status: string }; health: { status: string } }
    }[]
    expect(
      listed
        .map((app) => `${app.metadata.name} ${app.status.sync.status}/${app.status.health.status}`)
        .sort(),
    ).toEqual(EXPECTED_APPS.map((name) => `${name} Synced/Healthy`).sort())
  })

  it.skipIf(process.getuid?.() !== 0)(
    "runs Argo CD as its image's user (uid 999), the served repositories owned by whoever ran create",
    async () => {
      const uidOf = (pid: number) =>
        Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
      const procs = new Processes(stateDir())
      for (const name of ['argocd-repo-server', 'argocd-application-controller', 'argocd-server'])
        expect(uidOf(procs.pid(name) ?? 0), name).toBe(ARGOCD_USER.uid)
      expect(statSync(join(servedReposDir(localLayout(stateDir())), 'platform', '.git')).uid).toBe(
        process.getuid?.(),
      )
    },
  )

  it('configured OpenBao: KV v2 mount, kubernetes auth, a policy, role and initial secrets per app', async () => {
    const token = await adminToken()
    const get = async (path: string) => {
      const response = await fetch(`${openbaoAddress()}/v1/${path}`, { headers: { 'X-Vault-Token': token } })
      // biome-ignore lint/suspicious/noExplicitAny: OpenBao's JSON answers, read field by field below
      return { status: response.status, body: (await response.json()) as Record<string, any> }
    }
    const mounts = await get('sys/mounts')
    expect(mounts.body.data?.['secret/']?.type ?? mounts.body['secret/']?.type).toBe('kv')
    expect(mounts.body.data?.['secret/']?.options?.version ?? mounts.body['secret/']?.options?.version).toBe(
      '2',
    )
    const auth = await get('sys/auth')
    expect(Object.keys(auth.body.data ?? auth.body)).toContain('kubernetes/')
    for (const app of ws.env.openbao.apps) {
      const policy = await get(`sys/policies/acl/${app.name}`)
      expect(policy.status).toBe(200)
      expect(String(policy.body.data?.policy)).toContain(`secret/data/${app.name}`)
      const role = await get(`auth/kubernetes/role/${app.name}`)
      expect(role.body.data?.bound_service_account_names).toEqual([app.serviceAccount])
      expect(role.body.data?.bound_service_account_namespaces).toEqual([app.namespace])
      const secret = await get(`secret/data/${app.name}`)
      expect(Object.keys(secret.body.data?.data ?? {}).sort()).toEqual(Object.keys(app.secrets).sort())
    }
    const harbor = (await openbaoValues()).harbor ?? {}
    expect(harbor['cloudflare-api-token']).toBe(ws.planted.cloudflare_api_token)
  })
})

describe('GitOps guarantees, enforced by the real Argo CD controller', () => {
  const app = (name: string, project: string, repoURL: string, path: string, namespace: string): KObject => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd' },
    spec: {
      project,
      source: { repoURL, path, targetRevision: 'HEAD' },
      destination: { server: 'https://kubernetes.default.svc', namespace },
    },
  })
  /** Creates an Application its project must refuse, waits for the refusal, and always removes it. */
  const refusedApp = async (object: KObject, refusal: RegExp): Promise<Verdict> => {
    const ref = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      name: object.metadata.name,
      namespace: 'argocd',
    }
    await ws.kube().apply(object)
    try {
      let last: Verdict = refusedByProject(undefined, refusal)
      await waitFor(
        `Argo CD to refuse Application ${ref.name}`,
        async () => {
          last = refusedByProject(await ws.kube().get(ref), refusal)
          return last.ok
        },
        { timeoutMs: 60_000, intervalMs: 1000, describeLast: () => last.message },
      )
      return last
    } finally {
      await ws.kube().delete(ref)
    }
  }

  it('the tenant AppProject refuses an Application that targets kube-system', async () => {
    const tenantRepo = `file://${join(servedReposDir(localLayout(stateDir())), 'tenant-tenant-a')}`
    const verdict = await refusedApp(
      app('tenant-a-escape', 'tenant-a', tenantRepo, '.', 'kube-system'),
      /namespace 'kube-system' do(es)? not match any of the allowed destinations in project 'tenant-a'/,
    )
    expectVerdicts([verdict])
  })

  it('the locked default project refuses an Application from another repository', async () => {
    const verdict = await refusedApp(
      app('foreign-repo', 'default', 'https://github.com/someone-else/anything.git', '.', 'default'),
      /someone-else\/anything\.git.* not permitted in project 'default'/,
    )
    expectVerdicts([verdict])
  })

  it('a manual change to a synced object is reverted by selfHeal', async () => {
    const ref = { apiVersion: 'v1', kind: 'ResourceQuota', name: 'tenant-a', namespace: 'tenant-a' }
    const quotas = await ws.kube().list('v1', 'ResourceQuota', 'tenant-a')
    const quota = quotas[0]
    if (!quota) throw new Error('no ResourceQuota in tenant-a: tenant onboarding did not sync')
    const name = quota.metadata.name
    const original = (quota.spec as { hard: Record<string, string> }).hard
    const [key] = Object.keys(original)
    await ws.kube().apply(
      {
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name, namespace: 'tenant-a' },
        spec: { hard: { [key as string]: '999' } },
      } as KObject,
      { force: true },
    )
    await waitFor(
      'selfHeal to revert the ResourceQuota',
      async () => {
        const now = await ws.kube().get({ ...ref, name })
        return (
          (now?.spec as { hard?: Record<string, string> } | undefined)?.hard?.[key as string] ===
          original[key as string]
        )
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    )
  })

  it('a bootstrap Secret with Prune=false survives an automated sync with prune that owns it', async () => {
    const spec = ws.env.bootstrapSecrets.find((s) => s.namespace !== 'argocd') ?? ws.env.bootstrapSecrets[0]
    if (!spec) throw new Error('the local environment lists no bootstrap Secret')
    // Claim the Secret for platform-config, whose git source does not hold it: to Argo CD it is now an
    // extra resource of that app, which its automated sync (prune: true) would delete.
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', localLayout(stateDir()).adminKubeconfig, '-n', spec.namespace, ...args])
    const tracking = 'argocd.argoproj.io/tracking-id'
    await kubectl(
      'annotate',
      'secret',
      spec.name,
      `${tracking}=platform-config:/Secret:${spec.namespace}/${spec.name}`,
    )
    try {
      const result = await waitFor(
        'platform-config to sync and skip pruning the bootstrap Secret',
        async () => {
          const app = await ws.kube().get({
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'Application',
            name: 'platform-config',
            namespace: 'argocd',
          })
          const resources = (
            app?.status as
              | {
                  operationState?: {
                    syncResult?: {
                      resources?: { kind: string; name: string; status?: string; message?: string }[]
                    }
                  }
                }
              | undefined
          )?.operationState?.syncResult?.resources
          return resources?.find((r) => r.kind === 'Secret' && r.name === spec.name)
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      )
      expect(result.status).toBe('PruneSkipped')
      expectVerdicts([await bootstrapSecretsExist(ws.kube(), ws.env, ws.planted)])
    } finally {
      await kubectl('annotate', 'secret', spec.name, `${tracking}-`)
    }
    await waitFor(
      'platform-config to be Synced again',
      async () => (await applicationsConverged(ws.kube(), ws.env)).ok,
      { timeoutMs: 120_000 },
    )
  })
})

describe('idempotency', () => {
  it('a second create writes nothing: every apply is unchanged and no resourceVersion moves', async () => {
    const before = await ownedVersions()
    const result = await timed('create (no-op)', () => ws.cli(CREATE))
    expectOk(result, 'second create')
    const applied = result.output
      .split('\n')
      .filter((line) => /: (created|configured|unchanged)$/.test(line.trim()))
    expect(applied.length).toBeGreaterThan(5)
    expect(applied.filter((line) => !line.trim().endsWith('unchanged'))).toEqual([])
    expect(await ownedVersions()).toEqual(before)
  })

  it('a second openbao-setup writes nothing', async () => {
    const result = await timed('openbao-setup (no-op)', () => ws.cli(SETUP))
    expectOk(result, 'second openbao-setup')
    expect(result.output).toMatch(/changed 0, already in place \d+/)
    expect(result.output).toMatch(/\b0 write requests to OpenBao, init file written 0 times/)
    expect(result.output).not.toMatch(/: (created|configured)$/m)
  })
})

describe('fallback: bootstrap secrets from Vault/OpenBao first, SOPS for what it lacks', () => {
  const configFile = () => join(ws.dir, 'environments/local/config.yaml')
  let original = ''
  let token = ''

  beforeAll(async () => {
    original = readFileSync(configFile(), 'utf8')
    token = await adminToken()
    // Everything but one field in OpenBao, under the path the environment will read.
    const { cloudflare_api_token: _left, ...inVault } = ws.planted
    const { demo_password: _d, ...fields } = inVault as Record<string, string>
    const response = await fetch(`${openbaoAddress()}/v1/secret/data/platform-local/bootstrap`, {
      method: 'POST',
      headers: { 'X-Vault-Token': token },
      body: JSON.stringify({ data: fields }),
    })
    expect(response.status).toBe(200)
  })

  afterAll(() => writeFileSync(configFile(), original))

  const withVault = (vault: Record<string, unknown>, token: string) => {
    writeFileSync(join(ws.dir, 'environments/local/.vault-token'), `"${token}"\n`, { mode: 0o600 })
    const doc = parse(original)
    doc.secrets.vault = { tokenFile: 'environments/local/.vault-token', timeoutMs: 3000, ...vault }
    writeFileSync(configFile(), stringify(doc))
  }
  const step01 = () => ws.cli(CREATE, ['--step', '01'])

  it('OpenBao answering but one field missing: only that field comes from SOPS', async () => {
    withVault({ address: openbaoAddress(), kvPath: 'secret/data/platform-local/bootstrap' }, token)
    const result = await step01()
    expectOk(result, 'step 01')
    expect(result.output).toMatch(/cloudflare_api_token: from sops/)
    for (const field of [
      'age_cluster_private_key',
      'github_token_platform',
      'github_token_tenant',
      'openbao_unseal_key',
    ])
      expect(result.output).toMatch(new RegExp(`${field}: from vault`))
  })

  it('a wrong token: resolved from SOPS with a warning naming the cause', async () => {
    withVault(
      { address: openbaoAddress(), kvPath: 'secret/data/platform-local/bootstrap' },
      'not-a-real-token',
    )
    const result = await step01()
    expectOk(result, 'step 01')
    expect(result.output).toMatch(/403|permission denied|forbidden/i)
    expect(result.output).toMatch(/age_cluster_private_key: from sops/)
  })

  it('the KV path missing: resolved from SOPS with a warning naming the cause', async () => {
    withVault({ address: openbaoAddress(), kvPath: 'secret/data/platform-local/nothing-here' }, token)
    const result = await step01()
    expectOk(result, 'step 01')
    expect(result.output).toMatch(/404|not found/i)
    expect(result.output).toMatch(/github_token_platform: from sops/)
  })

  it('OpenBao stopped: resolved from SOPS with a warning naming the address', async () => {
    const address = openbaoAddress()
    withVault({ address, kvPath: 'secret/data/platform-local/bootstrap' }, token)
    await new Processes(stateDir()).stop('openbao', 10_000)
    const result = await step01()
    expectOk(result, 'step 01')
    expect(result.output).toContain(address)
    expect(result.output).toMatch(/unreachable|ECONNREFUSED/i)
    expect(result.output).toMatch(/openbao_unseal_key: from sops/)
    writeFileSync(configFile(), original)
    expectOk(await ws.cli(SETUP), 'openbao-setup after OpenBao was stopped')
  })
})

describe('faults', () => {
  it('kube-apiserver restarted in the middle of a create: the run retries and succeeds', async () => {
    const run = ws.spawnCli(CREATE)
    // Step 01 needs no API: the restart starts under it, so steps 02 on meet the apiserver gone.
    await waitFor('create to reach step 01', async () => run.output().includes('[01]'), {
      timeoutMs: 60_000,
      intervalMs: 20,
    })
    await restartApiserver({ stateDir: stateDir(), log: quiet })
    const result = await run.done
    expectOk(result, 'create across an apiserver restart')
    expect(result.output, 'the run met the outage and retried').toMatch(/; retrying$/m)
    expectVerdicts(await platformVerdicts())
  })

  it('a SOPS file no available key decrypts: a clear error naming the file and the recipients, no object written', async () => {
    const before = await ownedVersions()
    const wrongKey = join(ws.stateDir, 'wrong-key.txt')
    const { generateIdentity, writeKeyFile } = await import('../../lib/bootstrap-secrets/age.ts')
    await writeKeyFile(wrongKey, (await generateIdentity()).identity)
    const result = await ws.cli(CREATE, [], { env: { SOPS_AGE_KEY_FILE: wrongKey } })
    expect(result.code).not.toBe(0)
    expect(result.output).toContain('environments/local/secrets.sops.yaml')
    expect(result.output).toMatch(/age1[0-9a-z]{20,}/)
    expect(result.output).toMatch(/step 01-secrets failed/)
    expect(await ownedVersions()).toEqual(before)
  })

  it('an overlay Secret encrypted to a key the cluster does not hold: create stops at once, naming it', async () => {
    const demo = join(ws.dir, 'gitops/overlays/local/secrets/demo-credentials.secret.yaml')
    const original = readFileSync(demo)
    const { generateIdentity } = await import('../../lib/bootstrap-secrets/age.ts')
    const stranger = await generateIdentity()
    rmSync(demo)
    await writeDemoOverlaySecret(demo, [stranger.recipient], ws.demoPassword)
    try {
      const started = performance.now()
      const result = await ws.cli(CREATE)
      const seconds = (performance.now() - started) / 1000
      process.stdout.write(
        `create refused an overlay Secret the cluster cannot decrypt in ${seconds.toFixed(1)} s\n`,
      )
      expect(result.code).toBe(2)
      expect(result.output).toMatch(/step 03-age-key failed/)
      expect(result.output).toContain(
        `gitops/overlays/local/secrets/demo-credentials.secret.yaml is encrypted to ${stranger.recipient}, not to the cluster key`,
      )
      expect(result.output).toMatch(
        /delete gitops\/overlays\/local\/secrets\/demo-credentials\.secret\.yaml and run again/,
      )
    } finally {
      writeFileSync(demo, original)
    }
  })

  it('two errors waiting will not fix: create stops about 30 s after they show, one line of cause each', async () => {
    const faults = plantFaults(ws.dir, ws.env)
    try {
      const started = performance.now()
      const result = await ws.cli(CREATE)
      const seconds = (performance.now() - started) / 1000
      process.stdout.write(`create stopped on two deterministic errors in ${seconds.toFixed(1)} s\n`)
      expect(result.code).not.toBe(0)
      expect(result.output).toMatch(/step 08-converge failed: 2 Applications will not converge by waiting:/)
      expect(result.output).toMatch(
        new RegExp(`${REFUSED_APP}: application destination .* not match any of the allowed destinations`),
      )
      expect(result.output).toMatch(
        new RegExp(
          `${REJECTED_APP}: one or more objects failed to apply, reason: ConfigMap "Not_A_Valid_Name" is invalid`,
        ),
      )
      expect(result.output).toMatch(/how to fix: .*AppProject refuses it.*the API server refuses a manifest/)
      expect(result.output).not.toMatch(/timed out after/)
    } finally {
      faults.remove()
    }
    // Taken out of git again: the root app prunes them, and the next create converges.
    expectOk(await ws.cli(CREATE), 'create after the faults were removed')
    const names = (await apps()).map((app) => app.metadata.name)
    expect(names).not.toContain(REFUSED_APP)
    expect(names).not.toContain(REJECTED_APP)
  })

  it('converged means at what was just published: a change in git is synced before create returns', async () => {
    const file = join(ws.dir, 'gitops/platform/published-marker.yaml')
    const marker = `marker-${Date.now()}`
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'published-marker', namespace: 'platform-system' },
        data: { marker },
      }),
    )
    try {
      expectOk(await ws.cli(CREATE), 'create with a new commit to publish')
      const cm = await ws
        .kube()
        .get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'published-marker', namespace: 'platform-system' })
      expect((cm?.data as Record<string, string> | undefined)?.marker).toBe(marker)
      const head = (
        await run('git', [
          '-C',
          join(servedReposDir(localLayout(stateDir())), 'platform'),
          'rev-parse',
          'HEAD',
        ])
      ).stdout.trim()
      const root = (await apps()).find((app) => app.metadata.name === 'root')
      expect((root?.status as { sync?: { revision?: string } })?.sync?.revision).toBe(head)
    } finally {
      rmSync(file)
    }
    expectOk(await ws.cli(CREATE), 'create after the marker went again')
  })

  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hello', namespace: 'tenant-a' }

  const tenantApp = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    name: 'tenant-a',
    namespace: 'argocd',
  }

  /**
   * Drift for selfHeal to repair, then the controller stopped while it starts on it. The tenant's
   * Application compared just before: a controller started now would not compare it again on its
   * own for its reconciliation timeout, so only create's request can find the drift.
   */
  async function driftWhileTheControllerDies(procs: Processes): Promise<void> {
    expect(await ws.kube().get(deployment), 'the tenant workload synced from the tenant repo').toBeDefined()
    await ws.kube().mergePatch(tenantApp, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'normal' } } })
    await waitFor(
      'the tenant Application compared again',
      async () => !(await ws.kube().get(tenantApp))?.metadata.annotations?.[REFRESH_ANNOTATION],
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    await ws.kube().delete(deployment)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await procs.stop('argocd-application-controller', 10_000)
    expect(procs.isRunning('argocd-application-controller')).toBe(false)
  }

  it('the application-controller restarted mid-sync: everything still converges', async () => {
    const procs = new Processes(stateDir())
    await driftWhileTheControllerDies(procs)
    const created = await ws.cli(CREATE)
    expectOk(created, 'create after the controller died')
    expect(procs.isRunning('argocd-application-controller')).toBe(true)
    // The statuses the dead controller wrote (Synced and Healthy before the deletion, or Progressing
    // in the sync it died in) are not taken for converged.
    expectVerdicts([driftRepairedAfterControllerRestart(created.output, await ws.kube().get(deployment))])
    expectVerdicts(await platformVerdicts())
  })

  it('a create that died after restarting the controller: the next one still compares what it finds', async () => {
    const procs = new Processes(stateDir())
    await driftWhileTheControllerDies(procs)
    // Step 06 alone starts the controller, as a create interrupted right after it would have.
    expectOk(await ws.cli('scripts/06-argocd.ts'), 'step 06 alone')
    expect(procs.isRunning('argocd-application-controller')).toBe(true)
    const created = await ws.cli(CREATE)
    expectOk(created, 'create with the controller already running')
    expect(created.output).toMatch(/argocd: reused/)
    expectVerdicts([driftRepairedAfterControllerRestart(created.output, await ws.kube().get(deployment))])
    expectVerdicts(await platformVerdicts())
  })
})

describe('destroy and recreate', () => {
  const tag = Math.random().toString(36).slice(2, 10)
  const byHand = { note: `written-by-hand-${tag}-nothing-may-lose-it` }
  const kv = async (method: 'GET' | 'POST', path: string, data?: Record<string, string>) => {
    const response = await fetch(`${openbaoAddress()}/v1/secret/data/${path}`, {
      method,
      headers: { 'X-Vault-Token': await adminToken() },
      ...(data ? { body: JSON.stringify({ data }) } : {}),
    })
    if (method === 'POST') expect(response.status, `write secret/${path}`).toBe(200)
    return response.status === 200
      ? ((await response.json()) as { data: { data: Record<string, string> } }).data.data
      : undefined
  }

  it('nothing lost: a value written by hand and a changed generated one come back after destroy and create', async () => {
    await kv('POST', 'manual/notes', byHand)
    const grafana = {
      ...(await kv('GET', 'grafana')),
      'admin-password': `changed-by-hand-${tag}-0123456789abcdef`,
    }
    await kv('POST', 'grafana', grafana)
    const before = await openbaoValues()

    const destroyed = await timed('destroy (with snapshot)', () => ws.cli(DESTROY))
    expectOk(destroyed, 'destroy')
    expect(destroyed.output).toMatch(
      /OpenBao snapshot: environments\/local\/openbao-snapshot\.age \(\d+ KiB, taken \S+, encrypted to 2 age keys\)/,
    )
    const file = readFileSync(join(ws.dir, ws.env.openbao.snapshotFile), 'utf8')
    expect(file).toMatch(/^# platform-bootstrap OpenBao snapshot\n# taken: /)
    for (const value of [byHand.note, grafana['admin-password']]) expect(file).not.toContain(value)

    const created = await timed('create (restores the snapshot)', () => ws.cli(CREATE))
    expectOk(created, 'create after destroy')
    expect(created.output).toMatch(
      /OpenBao: restored \(from environments\/local\/openbao-snapshot\.age, taken /,
    )
    expect(await kv('GET', 'manual/notes')).toEqual(byHand)
    expect(await openbaoValues()).toEqual(before)
    expect((await openbaoValues()).grafana?.['admin-password']).toBe(grafana['admin-password'])
    // What belongs to the new cluster was set anew: its apiserver is another, and logins work.
    const second = await ws.cli(SETUP)
    expectOk(second, 'openbao-setup after the restore')
    expect(second.output).toMatch(/changed 0, already in place \d+/)
  })

  it('backup and restore on demand: newer data is not replaced without --force', async () => {
    const backup = await timed('backup', () => ws.cli('scripts/backup.ts'))
    expectOk(backup, 'backup')
    expect(backup.output).toMatch(/OpenBao snapshot: environments\/local\/openbao-snapshot\.age/)
    await kv('POST', 'manual/after-the-backup', { note: `newer-${tag}-than-the-snapshot` })

    const refused = await ws.cli('scripts/restore.ts')
    expect(refused.code).toBe(2)
    expect(refused.output).toMatch(
      /OpenBao holds values written after the snapshot in environments\/local\/openbao-snapshot\.age \(taken \S+\): secret\/manual\/after-the-backup/,
    )
    expect(await kv('GET', 'manual/after-the-backup')).toBeDefined()

    const forced = await timed('restore --force', () => ws.cli('scripts/restore.ts', ['--force']))
    expectOk(forced, 'restore --force')
    expect(await kv('GET', 'manual/after-the-backup')).toBeUndefined()
    expect(await kv('GET', 'manual/notes')).toEqual(byHand)
  })

  it('a snapshot no key here decrypts: refused, naming the file and its recipients, nothing changed', async () => {
    const { generateIdentity } = await import('../../lib/bootstrap-secrets/age.ts')
    const { writeSnapshot } = await import('../../lib/openbao/snapshot.ts')
    const stranger = await generateIdentity()
    const foreign = join(ws.stateDir, 'foreign-snapshot.age')
    await writeSnapshot(foreign, { takenAt: new Date().toISOString(), bytes: Buffer.from('x'), init: {} }, [
      stranger.recipient,
    ])
    const before = await openbaoValues()
    const result = await ws.cli('scripts/restore.ts', ['--from', foreign])
    expect(result.code).not.toBe(0)
    expect(result.output).toContain(`${foreign} (taken `)
    expect(result.output).toContain(
      `is encrypted to ${stranger.recipient}, and no key in ${ws.keyFile} decrypts it`,
    )
    expect(result.output).toMatch(/nothing was changed/)
    expect(await openbaoValues()).toEqual(before)
    expect(await kv('GET', 'manual/notes')).toEqual(byHand)
  })

  it('a create killed after each step in turn: the next run completes to the same state', async () => {
    const ageBefore = ws.clusterIdentity
    const valuesBefore = await openbaoValues()
    expectOk(await timed('destroy', () => ws.cli(DESTROY)), 'destroy')
    expect(stackStatus(stateDir()).filter((p) => p.running)).toEqual([])

    const steps = ['00', '01', '02', '03', '04', '05', '06', '07']
    for (const [i, id] of steps.entries()) {
      const next = steps[i + 1] ?? '08'
      const run = ws.spawnCli(CREATE)
      await waitFor(
        `create to finish step ${id}`,
        async () => run.output().includes(`[${next}]`) || run.child.exitCode !== null,
        { timeoutMs: 180_000, intervalMs: 20 },
      )
      run.child.kill('SIGKILL')
      await run.done
    }
    expectOk(await timed('create (after kills)', () => ws.cli(CREATE)), 'create after the killed runs')
    expectOk(await ws.cli(SETUP), 'openbao-setup after recreate')
    expectVerdicts(await platformVerdicts())
    expectVerdicts([await ageKeySecretHolds(ws.kube(), ws.env, ageBefore)])
    expect(await openbaoValues()).toEqual(valuesBefore)
  })

  it('destroy leaves no process of the stack behind, and its ports are free', async () => {
    const records = new Processes(stateDir()).list()
    expectOk(await ws.cli(DESTROY), 'destroy')
    // A zombie (exited, not yet reaped by pid 1) is gone for every purpose but the process table.
    const alive = records.filter((record) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${record.pid}/stat`, 'utf8'))
      } catch {
        return false
      }
    })
    expect(alive.map((r) => r.name)).toEqual([])
    const { portIsFree } = await import('../../lib/local/process/ports.ts')
    for (const record of records)
      for (const port of Object.values(record.ports)) expect(await portIsFree(port)).toBe(true)
    // The cluster's state is gone; the keys and secrets files are not.
    for (const gone of ['etcd', 'pki', 'openbao', 'kubeconfig'])
      expect(existsSync(join(stateDir(), gone)), `${gone} after destroy`).toBe(false)
    expect(
      existsSync(localLayout(stateDir()).node),
      'the node folder (served repositories, pods) after destroy',
    ).toBe(false)
    const kept = [
      ws.keyFile,
      ...[
        ws.env.secrets.sopsFile,
        ws.env.ageKey.backupFile,
        ws.env.openbao.initFile,
        ws.env.openbao.snapshotFile,
      ].map((f) => join(ws.dir, f)),
    ]
    for (const file of kept) expect(existsSync(file), `${file} after destroy`).toBe(true)
  })
})

describe('leaks', () => {
  it('no planted secret value in any output, annotation, ConfigMap or Argo CD log', async () => {
    // The cluster is gone after destroy: recreate it to look inside.
    expectOk(await ws.cli(CREATE), 'create')
    const texts: [string, string][] = ws.transcript.map((text, i) => [`run #${i + 1} output`, text])
    for (const kind of ['ConfigMap', 'Secret', 'Namespace', 'ServiceAccount', 'Deployment', 'Pod', 'Event']) {
      const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1'
      for (const object of await ws.kube().list(apiVersion, kind)) {
        const where = `${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
        texts.push([
          `${where} annotations`,
          JSON.stringify((object.metadata as { annotations?: unknown }).annotations ?? {}),
        ])
        if (kind === 'ConfigMap' || kind === 'Event') texts.push([where, JSON.stringify(object)])
      }
    }
    for (const app of await apps()) texts.push([`Application ${app.metadata.name}`, JSON.stringify(app)])
    const logs = localLayout(stateDir()).logs
    for (const file of readdirSync(logs)) texts.push([`log ${file}`, readFileSync(join(logs, file), 'utf8')])

    const values = Object.entries(ws.planted).filter(([, value]) => value.length >= 8)
    const leaks = texts.flatMap(([where, text]) =>
      values.filter(([, value]) => text.includes(value)).map(([field]) => `${field} in ${where}`),
    )
    expect(texts.length).toBeGreaterThan(20)
    expect(leaks).toEqual([])
  })

  it('redis, which caches the rendered manifests (decrypted Secrets too), refuses a client without its password', async () => {
    const socket = await redisSocketPath()
    expect(socket).toMatch(/^\//)
    expect(await redisAnswer(socket, 'KEYS *')).toMatch(/^-NOAUTH/)
  })

  it("the repo-server's askpass socket (git's credentials) is in a folder of the node only Argo CD's user can pass, not the host's /tmp", () => {
    const pid = new Processes(stateDir()).record('argocd-repo-server')?.pid as number
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    const socket = environ.find((entry) => entry.startsWith(`${ASK_PASS_SOCKET_ENV}=`))?.split('=')[1] ?? ''
    expect(socket.startsWith(`${localLayout(stateDir()).node}/`), socket).toBe(true)
    expect(statSync(socket).isSocket(), 'the repo-server listens on it').toBe(true)
    expect(statSync(dirname(socket)).mode & 0o777, "the socket's folder: Argo CD's user's alone").toBe(0o700)
  })

  it("redis listens on no port; killed, its socket is no one else's to take, and create starts it on the same one", async () => {
    const procs = new Processes(stateDir())
    expect(procs.record('redis')?.ports ?? {}).toEqual({})
    const socket = await redisSocketPath()
    const folder = statSync(join(socket, '..'))
    expect(folder.mode & 0o777, "the socket's folder: Argo CD's user's alone").toBe(0o700)
    const pid = procs.record('redis')?.pid as number
    process.kill(-pid, 'SIGKILL')
    await waitFor('redis to be gone', async () => !procs.isRunning('redis'), { timeoutMs: 10_000 })
    if (process.getuid?.() === 0) {
      // Another user (uid 65534) cannot listen where Argo CD dials, nor reach the folder: whatever
      // Argo CD's server sends while redis is down, no stranger can receive it.
      const stranger = execaSync(
        process.execPath,
        [
          '-e',
          `const net = require('net'); const path = ${JSON.stringify(socket)};
           net.createServer().listen(path).on('error', (e) => { console.log('listen', e.code);
             net.connect({ path }).on('error', (e) => { console.log('connect', e.code); process.exit(3) }) })`,
        ],
        { uid: 65534, gid: 65534, timeout: 10_000, reject: false },
      )
      expect(stranger.stdout).toMatch(/listen EACCES/)
      expect(stranger.stdout).toMatch(/connect EACCES/)
    }
    expectOk(await ws.cli(CREATE), 'create after redis was killed')
    expect(await redisSocketPath()).toBe(socket)
    expect(await redisAnswer(socket, 'KEYS *')).toMatch(/^-NOAUTH/)
  })
})
