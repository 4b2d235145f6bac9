import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node'
import { describe, expect, it, vi } from 'vitest'
import { ksopsPluginPath } from '../../lib/argocd/settings.ts'
import { run } from '../../lib/core/exec.ts'
import { redactor } from '../../lib/core/redact.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { isNodeReady } from '../../lib/kube/client.ts'
import { applyCrds } from '../../lib/local/argocd/objects.ts'
import { podRepoServerPaths } from '../../lib/local/argocd/pod.ts'
import { ensureControlPlane } from '../../lib/local/control-plane.ts'
import { kubeApis, LOCAL_POLL } from '../../lib/local/kube.ts'
import { localLayout, podRoot, servedReposDir } from '../../lib/local/layout.ts'
import { checkUnsealKeyFile, ensureOpenBao } from '../../lib/local/openbao.ts'
import { pkiPaths } from '../../lib/local/pki.ts'
import { portIsFree } from '../../lib/local/process/ports.ts'
import { httpGet } from '../../lib/local/process/probe.ts'
import { Processes } from '../../lib/local/process/processes.ts'
import { stopStack } from '../../lib/local/stack.ts'
import { encryptYaml } from '../../lib/sops/index.ts'
import { crdManifest } from '../helpers/crd-manifest.ts'
import { writeServerAuthOnlyEtcdCert } from '../helpers/server-auth-only-etcd-cert.ts'
import { useLocalStack } from './fixture.ts'
import { restartApiserver } from './restart-apiserver.ts'
import { stackStatus } from './stack-status.ts'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 })

const NODES = 2
const stack = useLocalStack({ nodes: NODES, servedRepos: ['demo'] })

describe('the local stack (real processes on 127.0.0.1)', () => {
  it('has every fake node Ready', async () => {
    const { core } = kubeApis(stack().controlPlane.kubeconfig)
    const nodes = await core.listNode({ labelSelector: 'type=kwok' })
    expect(nodes.items.map((n) => n.metadata?.name).sort()).toEqual(['kwok-node-0', 'kwok-node-1'])
    for (const node of nodes.items) expect(isNodeReady(node)).toBe(true)
  })

  it("serves etcd's gRPC gateway, and restarts etcd with a certificate an older run made without client auth", async () => {
    // The gateway behind /v3/* dials etcd's client port with etcd's serving certificate; made for
    // server auth only, etcd rejects it and every /v3 request is answered 503.
    const { stateDir, log } = stack()
    const pki = pkiPaths(localLayout(stateDir).pki)
    const range = async () => {
      const port = (new Processes(stateDir).record('etcd')?.ports as Record<string, number> | undefined)
        ?.client
      return postJson(
        `https://127.0.0.1:${port}/v3/kv/range`,
        { key: btoa('/registry/namespaces/default') },
        {
          ca: readFileSync(pki.ca.cert),
          cert: readFileSync(pki.etcdClient.cert),
          key: readFileSync(pki.etcdClient.key),
        },
      )
    }
    const first = await range()
    expect(first.status, first.body).toBe(200)
    expect(JSON.parse(first.body).count).toBe('1')

    // What runs before this one issued: the same names and CA, server auth alone.
    await writeServerAuthOnlyEtcdCert(pki)
    const before = stackStatus(stateDir)
    await stack().phase('etcd certificate reissued', () =>
      ensureControlPlane({ stateDir, nodes: NODES, log }),
    )
    for (const status of stackStatus(stateDir)) {
      const old = before.find((s) => s.name === status.name)
      expect(status.running, status.name).toBe(true)
      if (status.name === 'etcd') expect(status.pid).not.toBe(old?.pid)
      else expect(status.pid, status.name).toBe(old?.pid)
    }
    const again = await range()
    expect(again.status, again.body).toBe(200)
  })

  it('is adopted, not restarted, when ensured again while it runs', async () => {
    const { stateDir, log } = stack()
    const pids = stackStatus(stateDir).map((s) => [s.name, s.pid])
    const again = await ensureControlPlane({ stateDir, nodes: NODES, log })
    expect(again.reused).toBe(true)
    expect(stackStatus(stateDir).map((s) => [s.name, s.pid])).toEqual(pids)
  })

  it('restarts only the process that died', async () => {
    const { stateDir, log } = stack()
    const procs = new Processes(stateDir)
    const before = stackStatus(stateDir)
    await procs.stop('kube-scheduler', 5000)
    const again = await stack().phase('restart scheduler', () =>
      ensureControlPlane({ stateDir, nodes: NODES, log }),
    )
    expect(again.reused).toBe(false)
    const after = stackStatus(stateDir)
    for (const status of after) {
      const old = before.find((s) => s.name === status.name)
      expect(status.running, status.name).toBe(true)
      if (status.name === 'kube-scheduler') expect(status.pid).not.toBe(old?.pid)
      else expect(status.pid, status.name).toBe(old?.pid)
    }
  })

  it('converges the number of fake nodes both ways', async () => {
    const { stateDir, log, controlPlane } = stack()
    const { core } = kubeApis(controlPlane.kubeconfig)
    const names = async () => (await core.listNode({})).items.map((n) => n.metadata?.name).sort()
    await ensureControlPlane({ stateDir, nodes: NODES + 1, log })
    expect(await names()).toEqual(['kwok-node-0', 'kwok-node-1', 'kwok-node-2'])
    await ensureControlPlane({ stateDir, nodes: NODES, log })
    expect(await names()).toEqual(['kwok-node-0', 'kwok-node-1'])
  })

  it('runs a Deployment to Available (kwok marks its pod Running)', async () => {
    const { kc } = kubeApis(stack().controlPlane.kubeconfig)
    const apps = kc.makeApiClient(AppsV1Api)
    const core = kc.makeApiClient(CoreV1Api)
    await stack().phase('deployment available', async () => {
      await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web', 'default') })
      await waitFor(
        'deployment web Available',
        async () => {
          const d = await apps.readNamespacedDeployment({ name: 'web', namespace: 'default' })
          return (d.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True')
        },
        { ...LOCAL_POLL, timeoutMs: 120_000 },
      )
    })
    const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })
    expect(pods.items).toHaveLength(1)
    expect(pods.items[0]?.status?.phase).toBe('Running')
    expect(pods.items[0]?.spec?.nodeName).toMatch(/^kwok-node-\d$/)
  })

  it('serves the CRDs applyCrds applied when it returns: a client new to them creates one at once', async () => {
    const s = stack()
    // In the fixture's own folder: a run stopped half way leaves it to the fixture's reaper.
    const dir = await mkdtemp(join(s.keysDir, 'crds-'))
    try {
      // Groups of their own, new to the API server: each is applied, established and discovered
      // afresh, side by side, so discovery has work queued when applyCrds returns.
      const groups = Array.from({ length: 6 }, (_, i) => `g${i}-${Date.now().toString(36)}.crd-test.example`)
      const files = groups.map((group) => {
        const file = join(dir, `${group}.yaml`)
        writeFileSync(file, crdManifest(group))
        return file
      })
      await s.phase('fresh CRDs established and served', () =>
        applyCrds(kubeApis(s.controlPlane.kubeconfig), files, 60_000, s.controlPlane.kubeconfig),
      )
      // A client that has looked up none of them: its create asks discovery first.
      const { objects } = kubeApis(s.controlPlane.kubeconfig)
      for (const group of groups)
        await objects.create({
          apiVersion: `${group}/v1`,
          kind: 'Widget',
          metadata: { name: 'one', namespace: 'default' },
        })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  describe('Argo CD', () => {
    let repo = ''

    it('syncs an Application from a file:// git repository to Synced/Healthy', async () => {
      const s = stack()
      // Where the node serves repositories from, owned by this run's user: not by the repo-server's.
      repo = await makeGitRepo(join(servedReposDir(localLayout(s.stateDir)), 'demo'), s.agePublicKey)
      const { kc } = kubeApis(s.controlPlane.kubeconfig)
      const custom = kc.makeApiClient(CustomObjectsApi)
      await custom.createNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        namespace: 'argocd',
        plural: 'applications',
        body: {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Application',
          metadata: { name: 'demo', namespace: 'argocd' },
          spec: {
            project: 'default',
            source: { repoURL: `file://${repo}`, path: 'app', targetRevision: 'HEAD' },
            destination: { server: 'https://kubernetes.default.svc', namespace: 'demo' },
            syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true'] },
          },
        },
      })
      let last: { sync?: string; health?: string; conditions?: unknown } = {}
      await s
        .phase('application synced + healthy', () =>
          waitFor(
            'Application demo Synced/Healthy',
            async () => {
              const app = (await custom.getNamespacedCustomObject({
                group: 'argoproj.io',
                version: 'v1alpha1',
                namespace: 'argocd',
                plural: 'applications',
                name: 'demo',
              })) as {
                status?: { sync?: { status?: string }; health?: { status?: string }; conditions?: unknown }
              }
              last = {
                sync: app.status?.sync?.status,
                health: app.status?.health?.status,
                conditions: app.status?.conditions,
              }
              return last.sync === 'Synced' && last.health === 'Healthy'
            },
            { ...LOCAL_POLL, timeoutMs: 240_000, intervalMs: 1000 },
          ),
        )
        .catch((error: unknown) => {
          throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last)}`)
        })
      const apps = kc.makeApiClient(AppsV1Api)
      const d = await apps.readNamespacedDeployment({ name: 'demo', namespace: 'demo' })
      expect(d.status?.availableReplicas).toBe(1)
    })

    it('decrypts a SOPS-encrypted Secret through the KSOPS plugin path', async () => {
      const s = stack()
      const repoServer = podRepoServerPaths(podRoot(localLayout(s.stateDir), 'argocd-repo-server'), '')
      expect(existsSync(ksopsPluginPath(repoServer.pluginHome))).toBe(true)
      const { core } = kubeApis(s.controlPlane.kubeconfig)
      const secret = await core.readNamespacedSecret({ name: 'demo-credentials', namespace: 'demo' })
      expect(Buffer.from(secret.data?.password ?? '', 'base64').toString()).toBe(SECRET_VALUE)
      // …and the value is nowhere in the repository Argo CD read.
      const committed = readFileSync(join(repo, 'app', 'secret.sops.yaml'), 'utf8')
      expect(committed).not.toContain(SECRET_VALUE)
      expect(committed).toContain('ENC[')
    })
  })

  it('restarts the apiserver on the same port', async () => {
    const s = stack()
    const port = new URL(s.controlPlane.server).port
    await s.phase('apiserver restart', () => restartApiserver({ stateDir: s.stateDir, log: s.log }))
    const record = new Processes(s.stateDir).record('kube-apiserver')
    expect(String(record?.ports.secure)).toBe(port)
    const { core } = kubeApis(s.controlPlane.kubeconfig)
    expect((await core.listNode({})).items.length).toBe(NODES)
  })

  it('OpenBao starts, and after init and a restart unseals itself', async () => {
    const s = stack()
    const address = s.openbao?.address ?? ''
    expect((await httpGet(`${address}/v1/sys/health`)).status).toBe(501) // not initialised
    const env = { BAO_ADDR: address }
    const init = JSON.parse((await run('bao', ['operator', 'init', '-format=json'], { env })).stdout) as {
      root_token: string
      recovery_keys_b64: string[]
    }
    redactor.addAll([init.root_token, ...init.recovery_keys_b64])
    expect(init.recovery_keys_b64.length).toBeGreaterThan(0)
    const sealStatus = async () =>
      JSON.parse((await httpGet(`${address}/v1/sys/seal-status`)).body) as {
        sealed: boolean
        initialized: boolean
      }
    await waitFor('OpenBao unsealed after init', async () => !(await sealStatus()).sealed, {
      ...LOCAL_POLL,
      timeoutMs: 30_000,
    })

    await new Processes(s.stateDir).stop('openbao', 10_000)
    const again = await s.phase('openbao restart', () =>
      ensureOpenBao({ stateDir: s.stateDir, unsealKeyFile: s.unsealKeyFile, log: s.log }),
    )
    expect(again.address).toBe(address)
    await waitFor('OpenBao unsealed by itself after a restart', async () => !(await sealStatus()).sealed, {
      ...LOCAL_POLL,
      timeoutMs: 30_000,
    })
    expect(await sealStatus()).toMatchObject({ initialized: true, sealed: false })
  })

  it('leaves no process and no listening port behind when stopped', async () => {
    const s = stack()
    const before = stackStatus(s.stateDir)
    expect(before.filter((p) => !p.running).map((p) => p.name)).toEqual([])
    const ports = before.flatMap((p) => Object.values(p.ports))
    await s.phase('stop', () => stopStack(s.stateDir, { log: s.log }))
    for (const p of before)
      expect(existsSync(`/proc/${p.pid}`) && isStackProcess(p.pid ?? 0, s.stateDir)).toBe(false)
    expect(stackProcesses(s.stateDir)).toEqual([])
    for (const port of ports) expect(await portIsFree(port), `port ${port}`).toBe(true)
    expect(stackStatus(s.stateDir).every((p) => !p.running)).toBe(true)
  })
})

describe('safety of the process and state handling', () => {
  it('never takes a reused pid for one of its processes, nor signals it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'pb-local-pidreuse-'))
    try {
      mkdirSync(join(stateDir, 'run'))
      // Our own pid, recorded with another command line: a pid the kernel handed out again.
      const record = {
        name: 'etcd',
        pid: process.pid,
        argv: ['/nonexistent/etcd'],
        ports: {},
        log: '',
        startedAt: '',
      }
      writeFileSync(join(stateDir, 'run', 'etcd.json'), JSON.stringify(record))
      writeFileSync(join(stateDir, 'run', 'etcd.pid'), String(process.pid))
      const procs = new Processes(stateDir)
      expect(procs.isRunning('etcd')).toBe(false)
      expect(await procs.stop('etcd', 1000)).toBe('not-running')
      expect(existsSync(join(stateDir, 'run', 'etcd.pid'))).toBe(false)
    } finally {
      await rm(stateDir, { recursive: true, force: true })
    }
  })

  it('wipes only what the stack wrote, and nothing a symbolic link points at', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'pb-local-wipe-'))
    const outside = await mkdtemp(join(tmpdir(), 'pb-local-outside-'))
    try {
      writeFileSync(join(outside, 'keep.txt'), 'keep')
      symlinkSync(outside, join(stateDir, 'logs'))
      mkdirSync(join(stateDir, 'etcd'))
      writeFileSync(join(stateDir, 'etcd', 'db'), 'x')
      writeFileSync(join(stateDir, 'run.lock'), "not the stack's")
      await stopStack(stateDir, { wipe: true, log: stack().log })
      expect(readdirSync(stateDir)).toEqual(['run.lock'])
      expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('keep')
    } finally {
      await rm(stateDir, { recursive: true, force: true })
      await rm(outside, { recursive: true, force: true })
    }
  })

  it('refuses an unseal key file OpenBao cannot read, without printing it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-local-key-'))
    try {
      const key = join(dir, 'key')
      const value = (await run('openssl', ['rand', '-base64', '32'])).stdout // ends with a newline
      writeFileSync(key, value)
      let message = ''
      try {
        checkUnsealKeyFile(key)
      } catch (error) {
        message = `${(error as Error).message} ${(error as { hint?: string }).hint}`
      }
      expect(message).toMatch(/newline/)
      expect(message).not.toContain(value.trim())
      writeFileSync(key, value.trim())
      expect(() => checkUnsealKeyFile(key)).not.toThrow()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const SECRET_VALUE = 's3cr3t-from-sops'

function deployment(name: string, namespace: string) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: 'registry.invalid/never-pulled:1' }] },
      },
    },
  }
}

/** A git repository with a Deployment and a SOPS-encrypted Secret behind a KSOPS generator. */
async function makeGitRepo(repo: string, ageRecipient: string): Promise<string> {
  const app = join(repo, 'app')
  mkdirSync(app, { recursive: true })
  const yaml = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
  writeFileSync(join(app, 'deployment.yaml'), yaml(deployment('demo', 'demo')))
  writeFileSync(
    join(app, 'kustomization.yaml'),
    'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\ngenerators:\n  - secret-generator.yaml\n',
  )
  writeFileSync(
    join(app, 'secret-generator.yaml'),
    'apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: demo-secrets\nfiles:\n  - ./secret.sops.yaml\n',
  )
  // Plaintext goes to sops on stdin, never to a file (lib/sops/index.ts encryptYaml).
  const encrypted = await encryptYaml(
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-credentials\n  namespace: demo\ntype: Opaque\nstringData:\n  password: ${SECRET_VALUE}\n`,
    {
      file: join(app, 'secret.sops.yaml'),
      recipients: [ageRecipient],
      outputType: 'yaml',
      encryptedRegex: '^(data|stringData)$',
    },
  )
  writeFileSync(join(app, 'secret.sops.yaml'), encrypted)
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd: repo })
  await git('init', '--quiet', '--initial-branch=main')
  await git('add', '.')
  await git('commit', '--quiet', '-m', 'demo app')
  return repo
}

/** Whether /proc/<pid> belongs to the stack: its command line or working directory names the state dir or its node. */
function isStackProcess(pid: number, stateDir: string): boolean {
  const dirs = [stateDir, localLayout(stateDir).node]
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    if (dirs.some((dir) => cmdline.includes(dir))) return true
    const cwd = readlinkSync(`/proc/${pid}/cwd`)
    return dirs.some((dir) => cwd.startsWith(dir))
  } catch {
    return false
  }
}

function stackProcesses(stateDir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && isStackProcess(pid, stateDir))
}

/** POSTs `body` as JSON over TLS with a client certificate; the status and the answer's text. */
function postJson(
  url: string,
  body: unknown,
  tls: { ca: Buffer; cert: Buffer; key: Buffer },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, timeout: 10_000, ...tls }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
      response.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`POST ${url} timed out`)))
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
