import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { publishCheckout } from '../../lib/argocd/gitops-source.ts'
import { run } from '../../lib/core/exec.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { versions } from '../../lib/core/versions.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { RELEASE_LABEL } from '../../lib/helm/binary.ts'
import { chartRepoURL } from '../../lib/helm/chart-mirror.ts'
import { createKube, type KObject, type Kube, loadKubeConfig } from '../../lib/kube/client.ts'
import { dockerCgroupVersion, dockerImageLabels } from '../../lib/providers/docker.ts'
import { kindCreate, kindDelete, kindLoadArchive, nodeImageNeeds } from '../../lib/providers/kind-cli.ts'
import { loadConfig, OVERRIDE_VARIABLES } from '../../lib/runner/config.ts'
import {
  applicationsConverged,
  bootstrapSecretsExist,
  helmRevisionKept,
  managedVersions,
  namespacesExist,
  repositorySecretsExist,
  resourceVersionsKept,
  rootApplicationExists,
  type Verdict,
} from '../assertions/assertions.ts'
import { listedRevision } from '../helpers/helm-list.ts'
import { armReaper } from '../helpers/reaper.ts'
import { leakedFields, makeWorkspace, type Workspace } from '../local/workspace.ts'
import { expectedApplications } from './checkout.ts'
import { type GitServer, startGitServer } from './git-server.ts'

/**
 * The kind tier's "existing" round: environment `staging` (provider existing) run against a kind
 * cluster the test made and named as staging's context, the way a team runs it against a cluster
 * someone else made. Argo CD pulls the platform and tenant repositories from a git server that
 * requires the repository credentials (tests/e2e/git-server.ts), so step 04's Secrets are proven
 * against a server that refuses anything else. Before create, the cluster gets things that are
 * not the runbook's: a namespace of the team's (cert-manager, which staging also names) and a
 * bystander namespace, each with a ConfigMap. Then:
 *
 *   create → assertions → a second create that moves no resourceVersion and no Helm revision →
 *   destroy (refused, nothing written) → destroy --force → the cluster holds exactly what it held
 *   before create: every object create made and Argo CD deployed is gone, the team's are kept.
 */
export async function runExistingRound(options: {
  nodeImage: string
  archiveDir: string
  mirror: string
  say: (line: string) => void
}): Promise<Verdict[]> {
  const { say } = options
  const name = `pb-exist-${randomBytes(3).toString('hex')}`
  const scratch = mkdtempSync(join(tmpdir(), 'pb-existing-'))
  // This process killed outright: the cluster and the scratch folder go all the same.
  const reaper = armReaper()
  reaper.kindCluster(name)
  reaper.folder(scratch)
  const kubeconfig = join(scratch, 'kubeconfig')
  const reposDir = join(scratch, 'repos')
  let ws: Workspace | undefined
  let git: GitServer | undefined
  const verdicts: Verdict[] = []
  const check = (v: Verdict) => {
    verdicts.push(v)
    say(`  ${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${ws ? mask(ws, v.message) : v.message}`)
  }
  try {
    say(`existing: kind cluster ${name} playing staging's cluster (context platform-staging)`)
    const needs = nodeImageNeeds(await dockerImageLabels(run, options.nodeImage))
    if ((await dockerCgroupVersion(run)) === 1) needs.cgroupV1 = true
    await kindCreate(run, { name, image: options.nodeImage, workers: 0, needs }, kubeconfig)
    renameContext(kubeconfig, `kind-${name}`, 'platform-staging')
    for (const archive of await archives(options.archiveDir)) await kindLoadArchive(run, name, archive)
    const kube = createKube(loadKubeConfig(kubeconfig))
    await plantTheTeamsObjects(kube)
    const before = await settledInventory(kube)

    const host = await kindGateway()
    const password = `planted-git-${randomBytes(6).toString('hex')}`
    // The repository credentials staging's config names: username example-bot, the token fields.
    git = await startGitServer({ root: reposDir, host, username: 'example-bot', password })
    const serverURL = git.url
    const helmHome = join(scratch, 'helm')
    ws = await makeWorkspace({
      envName: 'staging',
      onRun: (child) => reaper.run(child),
      configure: (config) => {
        const secrets = config.secrets as Record<string, unknown>
        delete secrets.vault
        const gitops = config.gitops as {
          platformRepo: { url: string }
          tenantRepos: Record<string, { url: string }>
          include: string[]
        }
        gitops.platformRepo.url = `${serverURL}/platform`
        for (const [tenant, repo] of Object.entries(gitops.tenantRepos))
          repo.url = `${serverURL}/tenant-${tenant}`
        // As on kind: no image of the Secrets Store CSI driver and its consumers is obtainable offline.
        gitops.include = ['platform/*', 'tenants/*', 'runtime-secrets/openbao.yaml', 'overlays/staging.yaml']
      },
      // Both repository tokens are the one password the server takes.
      plant: { github_token_platform: password, github_token_tenant: password },
      variables: {
        KUBECONFIG: kubeconfig,
        HELM_CACHE_HOME: join(helmHome, 'cache'),
        HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'),
        [OVERRIDE_VARIABLES.chartsMirror]: options.mirror,
      },
    })
    await publishRepos(ws, reposDir, serverURL)
    const env = ws.env

    say('existing: create staging')
    const created = await ws.cli('scripts/create.ts')
    check(exited('create', created, 0))
    if (created.code !== 0) return verdicts
    check(await namespacesExist(kube, env))
    check(
      await repositorySecretsExist(kube, env, [
        env.gitops.platformRepo.url,
        ...Object.values(env.gitops.tenantRepos).map((r) => r.url),
      ]),
    )
    check(await bootstrapSecretsExist(kube, env, ws.planted))
    check(await rootApplicationExists(kube, env))
    check(await applicationsConverged(kube, env, expectedApplications(env, env.root)))
    check(gitServedWithCredentials(git, serverURL))
    check(await anonymousRefused(serverURL))

    say('existing: create staging again (writes nothing)')
    const versions = await managedVersions(kube, env)
    const revision = await helmRevision(kubeconfig, env.argocd.namespace)
    const again = await ws.cli('scripts/create.ts')
    check(exited('second create', again, 0))
    check(resourceVersionsKept(versions, await managedVersions(kube, env)))
    check(helmRevisionKept('argocd', revision, await helmRevision(kubeconfig, env.argocd.namespace)))

    say('existing: openbao-setup killed while OpenBao initialises a new storage, then run again')
    check(await interruptedInitRepaired(ws, kube, kubeconfig))

    say("existing: Argo CD's release drifted; create upgrades it and counts only statuses computed since")
    check(await upgradeCountsFreshStatuses(ws, kube, kubeconfig, options.mirror))

    say('existing: destroy staging without --force (refused, nothing written)')
    const snapshot = join(ws.dir, env.openbao.snapshotFile)
    const refused = await ws.cli('scripts/destroy.ts')
    check(exited('destroy without --force', refused, 2))
    check({
      name: 'a refused destroy writes nothing',
      ok: !existsSync(snapshot),
      message: existsSync(snapshot) ? `it wrote ${env.openbao.snapshotFile}` : 'no snapshot file was written',
    })

    say('existing: destroy staging --force')
    const destroyed = await ws.cli('scripts/destroy.ts', ['--force'])
    check(exited('destroy --force', destroyed, 0))
    for (const line of destroyed.output.split('\n').filter((l) => /removed|kept/.test(l)))
      say(`    │ ${mask(ws, line.trim())}`)
    check({
      name: 'destroy --force took the OpenBao snapshot first',
      ok: existsSync(snapshot),
      message: existsSync(snapshot)
        ? `${env.openbao.snapshotFile} written`
        : `no ${env.openbao.snapshotFile}`,
    })
    check(await inventoryRestored(kube, before))
    check({
      name: 'no planted value in any output',
      ok: !leakedFields(ws).length,
      message: leakedFields(ws).join(', ') || 'none of the planted values appears in what the runs printed',
    })
    return verdicts
  } catch (error) {
    check({
      name: 'existing round',
      ok: false,
      message: String(error instanceof Error ? error.message : error),
    })
    return verdicts
  } finally {
    await git?.close()
    await kindDelete(run, name).catch(() => undefined)
    await ws?.dispose()
    rmSync(scratch, { recursive: true, force: true })
    reaper.disarm()
  }
}

function exited(what: string, result: { code: number; output: string }, code: number): Verdict {
  const ok = result.code === code
  return {
    name: `${what} exits ${code}`,
    ok,
    message: ok
      ? `exited ${code}`
      : `exited ${result.code}:\n${result.output.split('\n').slice(-25).join('\n')}`,
  }
}

function mask(ws: Workspace, text: string): string {
  let out = text
  for (const value of Object.values(ws.planted)) if (value) out = out.split(value).join('***')
  return out
}

function renameContext(file: string, from: string, to: string): void {
  const config = parseYaml(readFileSync(file, 'utf8')) as {
    contexts: { name: string }[]
    'current-context': string
  }
  for (const context of config.contexts) if (context.name === from) context.name = to
  config['current-context'] = to
  writeFileSync(file, stringifyYaml(config), { mode: 0o600 })
}

async function archives(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.tar')).map((f) => join(dir, f))
}

/** The address of the kind network's bridge on this machine: where the pods reach the git server. */
async function kindGateway(): Promise<string> {
  const { stdout } = await execa('docker', [
    'network',
    'inspect',
    'kind',
    '--format',
    '{{json .IPAM.Config}}',
  ])
  const gateway = (JSON.parse(stdout) as { Gateway?: string }[])
    .map((c) => c.Gateway)
    .find((g) => g && /^\d+\.\d+\.\d+\.\d+$/.test(g))
  if (!gateway) throw new Error(`the kind network has no IPv4 gateway: ${stdout}`)
  return gateway
}

/** The team's own: a namespace staging also names (create must not adopt it) and a bystander. */
async function plantTheTeamsObjects(kube: Kube): Promise<void> {
  for (const ns of ['cert-manager', 'bystander']) {
    await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    await kube.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'the-teams', namespace: ns },
      data: { owner: 'the team' },
    })
  }
}

/**
 * The team's repositories as they would push them: this checkout's gitops tree, with the canonical
 * repository URLs it names rewritten to the git server's, and the chart repositories to the mirror.
 */
async function publishRepos(ws: Workspace, reposDir: string, serverURL: string): Promise<void> {
  const canonical = loadConfig('staging', join(repoRoot, 'environments'), { ...process.env })
  const env = {
    ...ws.env,
    gitops: {
      ...ws.env.gitops,
      platformRepo: canonical.gitops.platformRepo,
      tenantRepos: canonical.gitops.tenantRepos,
    },
  }
  await publishCheckout(env, reposDir, (repo) => `${serverURL}/${repo}`, run, {
    chartRepoURL: chartRepoURL(ws.env),
  })
}

function gitServedWithCredentials(git: GitServer, url: string): Verdict {
  const served = git.requests.filter((r) => r.user && r.status === 200)
  const repos = [...new Set(served.map((r) => r.path.split('/')[1] ?? ''))].sort()
  const ok = repos.includes('platform') && repos.some((r) => r.startsWith('tenant-'))
  return {
    name: 'Argo CD pulled both repositories with the credentials step 04 gave it',
    ok,
    message: `${served.length} authenticated requests to ${url} served (${repos.join(', ') || 'none'}); ${git.requests.filter((r) => r.status === 401).length} without credentials refused`,
  }
}

async function anonymousRefused(url: string): Promise<Verdict> {
  const result = await execa('git', ['ls-remote', `${url}/platform`], {
    reject: false,
    env: { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false' },
  })
  return {
    name: 'the git server refuses a request without credentials',
    ok: result.exitCode !== 0,
    message:
      result.exitCode !== 0 ? 'git ls-remote without credentials failed' : 'an anonymous ls-remote succeeded',
  }
}

async function helmRevision(kubeconfig: string, namespace: string): Promise<number | undefined> {
  return listedRevision(run, { name: 'argocd', namespace, kubeconfig, context: 'platform-staging' })
}

const CLUSTER_KINDS: [string, string][] = [
  ['v1', 'Namespace'],
  ['apiextensions.k8s.io/v1', 'CustomResourceDefinition'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  ['v1', 'PersistentVolume'],
]
const NAMESPACED_KINDS: [string, string][] = [
  ['v1', 'ConfigMap'],
  ['v1', 'Secret'],
  ['v1', 'ServiceAccount'],
  ['v1', 'Service'],
  ['v1', 'PersistentVolumeClaim'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
]

/** What the cluster holds, by kind/namespace/name (cluster-wide lists). */
async function inventory(kube: Kube): Promise<Set<string>> {
  const lists = await Promise.all(
    [...CLUSTER_KINDS, ...NAMESPACED_KINDS].map(async ([apiVersion, kind]) =>
      (await kube.list(apiVersion, kind)).map(
        (o) => `${kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`,
      ),
    ),
  )
  return new Set(lists.flat())
}

/**
 * The inventory once Kubernetes' own controllers have caught up with the namespaces: each has the
 * `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap they make, a moment after the
 * namespace itself. Taken sooner, the comparison after destroy counts them as left behind.
 */
async function settledInventory(kube: Kube): Promise<Set<string>> {
  let missing: string[] = []
  return waitFor(
    'the ServiceAccount and ConfigMap Kubernetes makes in every namespace',
    async () => {
      const keys = await inventory(kube)
      const namespaces = [...keys]
        .filter((k) => k.startsWith('Namespace/'))
        .map((k) => k.slice('Namespace/'.length))
      missing = namespaces
        .flatMap((ns) => [`ServiceAccount/${ns}/default`, `ConfigMap/${ns}/kube-root-ca.crt`])
        .filter((key) => !keys.has(key))
      return missing.length ? undefined : keys
    },
    { timeoutMs: 60_000, intervalMs: 200, describeLast: () => `missing ${missing.join(', ')}` },
  )
}

/** After destroy --force, the inventory is the one before create (a PersistentVolume's release may lag a little). */
async function inventoryRestored(kube: Kube, before: Set<string>): Promise<Verdict> {
  let added: string[] = []
  let removed: string[] = []
  for (let i = 0; i < 30; i++) {
    const after = await inventory(kube)
    added = [...after].filter((key) => !before.has(key)).sort()
    removed = [...before].filter((key) => !after.has(key)).sort()
    if (!added.length && !removed.length) break
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
  const ok = !added.length && !removed.length
  return {
    name: 'destroy --force leaves the cluster as it was before create',
    ok,
    message: ok
      ? `${before.size} objects, the same ones as before create (the team's cert-manager and bystander namespaces with their ConfigMaps among them)`
      : `left behind: ${added.join(', ') || '-'}; removed that was there before: ${removed.join(', ') || '-'}`,
  }
}

/**
 * OpenBao on a new, empty volume (its PVC and pod deleted: the StatefulSet makes both again), then
 * `openbao-setup` killed once OpenBao says it is initialised and before the answer is saved, then
 * run again: it must start that storage over by itself (lib/openbao/setup/interrupted-init.ts) and work.
 */
async function interruptedInitRepaired(ws: Workspace, kube: Kube, kubeconfig: string): Promise<Verdict> {
  const name = 'openbao-setup killed while OpenBao initialises: the next run repairs it'
  const ns = ws.env.openbao.namespace
  const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data-openbao-0', namespace: ns }
  const pod = { apiVersion: 'v1', kind: 'Pod', name: 'openbao-0', namespace: ns }
  const old = (await kube.get(pvc))?.metadata.uid
  await kube.delete(pvc)
  await kube.delete(pod)
  const sealStatus = async () => {
    const raw = await execa(
      'kubectl',
      [
        '--kubeconfig',
        kubeconfig,
        'get',
        '--raw',
        `/api/v1/namespaces/${ns}/pods/http:openbao-0:8200/proxy/v1/sys/seal-status`,
      ],
      { reject: false },
    )
    return raw.exitCode === 0 ? (JSON.parse(String(raw.stdout)) as { initialized?: boolean }) : undefined
  }
  const poll = (what: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 200, notYet: () => true })
  await poll('a new OpenBao pod on a new volume, answering uninitialised', async () => {
    const uid = (await kube.get(pvc))?.metadata.uid
    if (!uid || uid === old) return false
    return (await sealStatus())?.initialized === false
  })
  const initFile = join(ws.dir, ws.env.openbao.initFile)
  const before = existsSync(initFile) ? statSync(initFile).mtimeMs : 0
  const killed = ws.spawnCli('scripts/09-openbao-setup.ts')
  await poll(
    'setup to mark the storage in the init file',
    async () => statSync(initFile).mtimeMs !== before || killed.child.exitCode !== null,
    120_000,
  )
  const marked = statSync(initFile).mtimeMs
  await poll(
    'OpenBao to say it is initialised',
    async () => (await sealStatus())?.initialized === true || killed.child.exitCode !== null,
    120_000,
  )
  killed.child.kill('SIGKILL')
  await killed.done
  const answerLost = (await sealStatus())?.initialized === true && statSync(initFile).mtimeMs === marked
  const again = await ws.cli('scripts/09-openbao-setup.ts')
  const startedOver = again.output.includes('initialised by a run that stopped before saving the answer')
  const ok = again.code === 0 && startedOver === answerLost
  return {
    name,
    ok,
    message: ok
      ? answerLost
        ? 'killed with OpenBao initialised and its answer unsaved; the next run made the volume anew and set OpenBao up'
        : 'the kill came after the answer was saved; the next run went on with it'
      : `exited ${again.code}; answer lost: ${answerLost}, started over: ${startedOver}\n${again.output.split('\n').slice(-20).join('\n')}`,
  }
}

/**
 * An upgrade in place: Argo CD's release gets a revision with other values (as an older runbook, or
 * a person, would leave it), then create puts its own back. Step 08 must not pass on the statuses
 * written before: it asks every Application to refresh and counts each once Argo CD has — so
 * afterwards none still holds the request and every one was reconciled after the create began.
 */
async function upgradeCountsFreshStatuses(
  ws: Workspace,
  kube: Kube,
  kubeconfig: string,
  mirror: string,
): Promise<Verdict> {
  const name = 'after an upgrade in place, convergence counts only statuses Argo CD computed since'
  const ns = ws.env.argocd.namespace
  const chart = versions.charts.argocd
  const drift = await execa(
    'helm',
    [
      ...['upgrade', 'argocd', join(mirror, `${chart.name}-${chart.version}.tgz`), '--namespace', ns],
      ...['--kubeconfig', kubeconfig, '--kube-context', 'platform-staging', '--reuse-values'],
      ...[
        '--labels',
        `${RELEASE_LABEL.key}=${RELEASE_LABEL.value}`,
        '--set-string',
        'configs.params.controller\\.log\\.level=debug',
      ],
    ],
    { env: ws.variables, reject: false, all: true },
  )
  if (drift.exitCode !== 0)
    return { name, ok: false, message: `helm upgrade (the drift) failed: ${drift.all}` }
  const began = Math.floor(Date.now() / 1000) * 1000
  const created = await ws.cli('scripts/create.ts')
  const apps = await kube.list('argoproj.io/v1alpha1', 'Application', ns)
  const reconciledAt = (app: KObject) =>
    Date.parse(String((app.status as { reconciledAt?: string } | undefined)?.reconciledAt))
  const stale = apps.filter((app) => !(reconciledAt(app) >= began)).map((app) => app.metadata.name)
  const asked = apps
    .filter(
      (app) =>
        (app.metadata as { annotations?: Record<string, string> }).annotations?.[
          'argocd.argoproj.io/refresh'
        ],
    )
    .map((app) => app.metadata.name)
  const upgraded = /upgraded to revision \d+/.test(created.output)
  const refreshed = created.output.includes('every Application counts once Argo CD has compared it again')
  const ok = created.code === 0 && upgraded && refreshed && !stale.length && !asked.length
  return {
    name,
    ok,
    message: ok
      ? `create upgraded the release back, asked ${apps.length} Applications to refresh and counted each after Argo CD had`
      : `exited ${created.code}; upgraded: ${upgraded}; refresh asked: ${refreshed}; reconciled before the create: ${stale.join(', ') || '-'}; refresh still pending: ${asked.join(', ') || '-'}\n${created.output.split('\n').slice(-20).join('\n')}`,
  }
}
