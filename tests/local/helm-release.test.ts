import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BootstrapError, type ProcessError } from '../../lib/core/errors.ts'
import { type Run, run } from '../../lib/core/exec.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { deployedRelease, type HelmRelease, helmUpgradeArgs } from '../../lib/helm/binary.ts'
import { ensureRelease } from '../../lib/helm/release.ts'
import { createKube, loadKubeConfig } from '../../lib/kube/client.ts'
import { loadConfig } from '../../lib/runner/config.ts'
import type { Context } from '../../lib/runner/context.ts'
import { Logger } from '../../lib/runner/log.ts'
import { toolsPath } from '../../lib/tools/catalogue.ts'
import { helmRevisionKept } from '../assertions/assertions.ts'
import { listedRevision } from '../helpers/helm-list.ts'
import { memorySink } from '../helpers/memory-sink.ts'
import { useLocalStack } from './fixture.ts'

/**
 * The release logic of step 06 on kind/existing (lib/helm/release.ts) with the real helm against
 * the local tier's real kube-apiserver: a small chart made here and served from a chart repository
 * on loopback stands in for the argo-cd chart, which is on the internet. A second run writes no
 * revision, a change says what differs, --dry-run reports per object, a foreign release is refused.
 */
const stack = useLocalStack({ nodes: 1, argocd: false, openbao: false })
const dir = mkdtempSync(join(tmpdir(), 'pb-helm-'))
let server: Server
let repo = ''

/** Chart `name` 1.0.0 (app 1.0) in a folder of that name in the test's folder, with one template. */
function writeChart(name: string, template: string): string {
  const chart = join(dir, name)
  mkdirSync(join(chart, 'templates'), { recursive: true })
  writeFileSync(
    join(chart, 'Chart.yaml'),
    `apiVersion: v2\nname: ${name}\nversion: 1.0.0\nappVersion: "1.0"\n`,
  )
  writeFileSync(join(chart, 'templates', 'manifest.yaml'), template)
  return chart
}

beforeAll(async () => {
  // Helm keeps its cache and config here, never in the user's home.
  for (const what of ['CACHE', 'CONFIG', 'DATA'])
    vi.stubEnv(`HELM_${what}_HOME`, join(dir, `helm-${what.toLowerCase()}`))
  const chart = writeChart(
    'demo',
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | default "hi" | quote }}\n',
  )
  const served = join(dir, 'repo')
  await run('helm', ['package', chart, '--destination', served])
  server = createServer((request, response) => {
    try {
      response.end(readFileSync(join(served, (request.url ?? '/').replace(/^\/+/, ''))))
    } catch {
      response.statusCode = 404
      response.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  repo = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  await run('helm', ['repo', 'index', served, '--url', repo])
}, 120_000)

afterAll(async () => {
  vi.unstubAllEnvs()
  await new Promise((resolve) => server?.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

/** A chart whose upgrade never ends when waited for: a Deployment no node may run. */
const hangingChart = () =>
  writeChart(
    'hang',
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hang\nspec:\n  selector: {matchLabels: {app: hang}}\n  template:\n    metadata: {labels: {app: hang}}\n    spec:\n      nodeSelector: {platform-bootstrap/no-such-node: "true"}\n      containers: [{name: c, image: pause}]\n',
  )

/** What helm itself lists for a release: the independent side of each comparison. */
const listed = (name: string) =>
  listedRevision(run, { name, namespace: 'default', kubeconfig: stack().controlPlane.kubeconfig })
/** What helm itself reports of a release in namespace default, as JSON. */
const helmJson = async (args: string[]): Promise<unknown> =>
  JSON.parse(
    (
      await run('helm', [
        ...args,
        '--namespace',
        'default',
        '--kubeconfig',
        stack().controlPlane.kubeconfig,
        '--output',
        'json',
      ])
    ).stdout,
  )
const kubeClient = () => createKube(loadKubeConfig(stack().controlPlane.kubeconfig))

function release(name: string, values: Record<string, unknown>): HelmRelease {
  return {
    name,
    namespace: 'default',
    chart: { repo, name: 'demo', version: '1.0.0' },
    values,
    kubeconfig: stack().controlPlane.kubeconfig,
    timeoutSeconds: 60,
  }
}

/** A context on the local cluster whose runner counts the helm commands that write. */
function context(flags: Partial<Context['flags']> = {}) {
  const sink = memorySink()
  const writes: string[] = []
  const counting: Run = async (command, args, options) => {
    if (command === 'helm' && args[0] === 'upgrade' && !args.includes('--dry-run=server'))
      writes.push(args.join(' '))
    return run(command, args, options)
  }
  const kube = createKube(loadKubeConfig(stack().controlPlane.kubeconfig))
  const ctx = {
    env: loadConfig('local'),
    flags: { dryRun: false, force: false, rotate: [], ...flags },
    log: new Logger({ sink }),
    run: counting,
    kube: async () => kube,
  } as unknown as Context
  return { ctx, lines: sink.lines, writes }
}

describe('a Helm release the runbook owns (real helm, real apiserver)', () => {
  it('installs it, labelled as this runbook’s', async () => {
    const { ctx, writes } = context()
    expect(await ensureRelease(ctx, release('demo', { greeting: 'hello' }))).toEqual({ action: 'install' })
    expect(writes).toHaveLength(1)
    expect(await deployedRelease(kubeClient(), release('demo', {}))).toMatchObject({
      revision: 1,
      ours: true,
      chart: 'demo-1.0.0',
      status: 'deployed',
      values: { greeting: 'hello' },
    })
  })

  it('a second run with nothing new: unchanged, no helm write, no new revision', async () => {
    const { ctx, writes, lines } = context()
    const before = await listed('demo')
    expect(await ensureRelease(ctx, release('demo', { greeting: 'hello' }))).toEqual({
      action: 'unchanged',
      revision: 1,
    })
    expect(writes).toEqual([])
    expect(lines.join('\n')).toMatch(/helm release default\/demo \(demo 1\.0\.0\): unchanged \(revision 1/)
    // The verdict the kind e2e gives Argo CD's release after its second create.
    const kept = helmRevisionKept('demo', before, await listed('demo'))
    expect(kept.ok, kept.message).toBe(true)
  })

  it('--dry-run: says what differs and what each object would become, and changes nothing', async () => {
    const { ctx, writes, lines } = context({ dryRun: true })
    await ensureRelease(ctx, release('demo', { greeting: 'bonjour' }))
    expect(writes).toEqual([])
    expect(lines.join('\n')).toMatch(/would be upgraded: values greeting/)
    expect(lines.join('\n')).toMatch(/ConfigMap\/default\/demo: would be configured/)
    expect(await listed('demo')).toBe(1)
  })

  it('changed values: upgraded, naming the keys that changed', async () => {
    const { ctx, writes, lines } = context()
    expect(await ensureRelease(ctx, release('demo', { greeting: 'bonjour' }))).toEqual({
      action: 'upgrade',
      revision: 1,
      changes: ['values greeting'],
    })
    expect(writes).toHaveLength(1)
    expect(lines.join('\n')).toMatch(/upgrading revision 1: values greeting/)
    expect(await listed('demo')).toBe(2)
    // Read from helm's storage: the latest of two revisions, with the values helm itself reports.
    const values = await helmJson(['get', 'values', 'demo'])
    expect(await deployedRelease(kubeClient(), release('demo', {}))).toMatchObject({
      revision: 2,
      status: 'deployed',
      chart: 'demo-1.0.0',
      values,
      ours: true,
    })
  })

  it('keeps releases in helm’s Secret storage whatever HELM_DRIVER the user set', async () => {
    vi.stubEnv('HELM_DRIVER', 'configmap')
    try {
      const { ctx } = context()
      expect(await ensureRelease(ctx, release('driven', { greeting: 'hej' }))).toEqual({ action: 'install' })
      expect(await ensureRelease(ctx, release('driven', { greeting: 'hej' }))).toMatchObject({
        action: 'unchanged',
      })
    } finally {
      vi.stubEnv('HELM_DRIVER', 'secret')
    }
    expect(await listed('driven')).toBe(1)
  })

  it('a release someone else made: refused, then taken over only with --force', async () => {
    await run('helm', [
      'install',
      'theirs',
      'demo',
      '--repo',
      repo,
      '--version',
      '1.0.0',
      '--namespace',
      'default',
      '--kubeconfig',
      stack().controlPlane.kubeconfig,
    ])
    const refused = context()
    const error = await ensureRelease(refused.ctx, release('theirs', {})).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toMatch(
      /a release of that name exists \(demo-1\.0\.0, revision 1\) that platform-bootstrap did not make: not adopting it/,
    )
    expect(refused.writes).toEqual([])
    const forced = context({ force: true })
    await ensureRelease(forced.ctx, release('theirs', {}))
    expect(await deployedRelease(kubeClient(), release('theirs', {}))).toMatchObject({
      revision: 2,
      ours: true,
    })
  })

  it('a helm killed mid-upgrade leaves the release pending: waited for while it runs here, refused while one elsewhere may hold it, repaired where none can', async () => {
    const { ctx } = context()
    expect(await ensureRelease(ctx, release('held', { greeting: 'hello' }))).toEqual({ action: 'install' })
    // An upgrade that never ends: a Deployment no node may run, waited for.
    const hang = hangingChart()
    const helm = execa(
      'helm',
      helmUpgradeArgs({ ...release('held', {}), source: [hang], timeoutSeconds: 600 }),
      { input: '{}', reject: false, env: { PATH: toolsPath(process.env.PATH) } },
    )
    stack().track(helm)
    await waitFor(
      'revision 2 pending-upgrade',
      async () => (await deployedRelease(kubeClient(), release('held', {})))?.status === 'pending-upgrade',
      { timeoutMs: 60_000, intervalMs: 200 },
    )

    // While it runs here, the next run waits for it; once it is killed, on a cluster others may reach
    // (existing) a helm elsewhere could still hold the lock: refused, nothing written.
    const waiting = context()
    const attempt = ensureRelease(waiting.ctx, release('held', { greeting: 'bonjour' })).catch(
      (e: unknown) => e,
    )
    await waitFor(
      'the run to wait for helm',
      async () => waiting.lines.some((l) => /waiting for the helm on this machine/.test(l)),
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    helm.kill('SIGKILL')
    await helm
    const refused = await attempt
    expect(refused).toBeInstanceOf(BootstrapError)
    expect((refused as BootstrapError).message).toMatch(
      /revision 2 is pending-upgrade, and no helm on this machine works on it/,
    )
    expect(waiting.writes).toEqual([])
    // What helm itself does with such a release, and what the runbook repairs.
    const stuck = await run('helm', helmUpgradeArgs(release('held', {}), { wait: false }), {
      input: '{}',
    }).catch((e: unknown) => e)
    expect(`${(stuck as ProcessError).message} ${(stuck as ProcessError).stderr}`).toMatch(
      /another operation \(install\/upgrade\/rollback\) is in progress/,
    )

    // --dry-run says it and writes nothing.
    const dry = context({ dryRun: true })
    await ensureRelease(dry.ctx, release('held', { greeting: 'bonjour' }), { clusterOnlyHere: true })
    expect(dry.lines.join('\n')).toMatch(
      /revision 2, left pending-upgrade by a helm operation that died .*: would be marked failed/,
    )
    expect(dry.lines.join('\n')).toMatch(/then would be upgraded from revision 2/)
    expect((await deployedRelease(kubeClient(), release('held', {})))?.status).toBe('pending-upgrade')

    // Where no helm elsewhere can reach the cluster (kind): marked failed as helm would, then upgraded.
    const repaired = context()
    expect(
      await ensureRelease(repaired.ctx, release('held', { greeting: 'bonjour' }), { clusterOnlyHere: true }),
    ).toMatchObject({
      action: 'upgrade',
      revision: 2,
      changes: ['chart hang-1.0.0 → demo-1.0.0', 'release status failed', 'values greeting'],
    })
    expect(repaired.lines.join('\n')).toMatch(/revision 2, left pending-upgrade .*: marked failed/)
    expect(await deployedRelease(kubeClient(), release('held', {}))).toMatchObject({
      revision: 3,
      status: 'deployed',
      chart: 'demo-1.0.0',
      values: { greeting: 'bonjour' },
    })
    // helm's own history reads the marked revision, as it wrote it.
    const history = (await helmJson(['history', 'held'])) as {
      revision: number
      status: string
      description: string
    }[]
    expect(history.map((entry) => `${entry.revision} ${entry.status}`)).toEqual([
      '1 superseded',
      '2 failed',
      '3 deployed',
    ])
    expect(history[1]?.description).toMatch(/pending-upgrade when its helm operation died/)
    await kubeClient().delete({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'hang',
      namespace: 'default',
    })
  }, 180_000)

  it('a helm that takes the release between the read and the upgrade: refused with what to do, nothing changed', async () => {
    const { ctx } = context()
    expect(await ensureRelease(ctx, release('raced', { greeting: 'hello' }))).toEqual({ action: 'install' })
    // Another helm (someone's, by hand) starts its upgrade after the run has read the release as
    // deployed, just before the run's own upgrade: it never ends, holding helm's lock.
    const raced = context()
    let other: ReturnType<typeof execa> | undefined
    const upgrade = raced.ctx.run
    ;(raced.ctx as { run: Run }).run = async (command, args, options) => {
      if (command === 'helm' && args[0] === 'upgrade' && !other) {
        other = execa(
          'helm',
          helmUpgradeArgs({ ...release('raced', {}), source: [hangingChart()], timeoutSeconds: 600 }),
          { input: '{}', reject: false, env: { PATH: toolsPath(process.env.PATH) } },
        )
        stack().track(other)
        await waitFor(
          'the other helm to hold the lock',
          async () =>
            (await deployedRelease(kubeClient(), release('raced', {})))?.status === 'pending-upgrade',
          { timeoutMs: 60_000, intervalMs: 200 },
        )
      }
      return upgrade(command, args, options)
    }
    try {
      const refused = await ensureRelease(raced.ctx, release('raced', { greeting: 'bonjour' })).catch(
        (e: unknown) => e,
      )
      expect(refused).toBeInstanceOf(BootstrapError)
      expect((refused as BootstrapError).message).toMatch(
        /helm release default\/raced .*: another helm operation took the release after this run read it.*nothing of the release was changed/,
      )
      expect((refused as BootstrapError).hint).toMatch(/helm history raced -n default/)
      expect((refused as BootstrapError).hint).not.toMatch(/is helm installed/)
      // The other helm's revision, as it left it: the run wrote no revision of its own.
      expect(await deployedRelease(kubeClient(), release('raced', {}))).toMatchObject({
        revision: 2,
        status: 'pending-upgrade',
        chart: 'hang-1.0.0',
      })
    } finally {
      other?.kill('SIGKILL')
      await other
      await run('helm', [
        'uninstall',
        'raced',
        '--namespace',
        'default',
        '--kubeconfig',
        stack().controlPlane.kubeconfig,
      ])
      await kubeClient().delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'raced', namespace: 'default' })
    }
  }, 180_000)
})
