import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BootstrapError } from '../../lib/core/errors.ts'
import { type Run, run } from '../../lib/core/exec.ts'
import { deployedRelease, type HelmRelease } from '../../lib/helm/binary.ts'
import { ensureRelease } from '../../lib/helm/release.ts'
import { createKube, loadKubeConfig } from '../../lib/kube/client.ts'
import { loadConfig } from '../../lib/runner/config.ts'
import type { Context } from '../../lib/runner/context.ts'
import { Logger } from '../../lib/runner/log.ts'
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

beforeAll(async () => {
  // Helm keeps its cache and config here, never in the user's home.
  for (const what of ['CACHE', 'CONFIG', 'DATA'])
    vi.stubEnv(`HELM_${what}_HOME`, join(dir, `helm-${what.toLowerCase()}`))
  const chart = join(dir, 'chart')
  mkdirSync(join(chart, 'templates'), { recursive: true })
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 1.0.0\nappVersion: "1.0"\n')
  writeFileSync(
    join(chart, 'templates', 'configmap.yaml'),
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

/** What helm itself lists for a release: the independent side of each comparison. */
const listed = (name: string) =>
  listedRevision(run, { name, namespace: 'default', kubeconfig: stack().controlPlane.kubeconfig })
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
    const values = JSON.parse(
      (
        await run('helm', [
          'get',
          'values',
          'demo',
          '--namespace',
          'default',
          '--kubeconfig',
          stack().controlPlane.kubeconfig,
          '--output',
          'json',
        ])
      ).stdout,
    )
    expect(await deployedRelease(kubeClient(), release('demo', {}))).toEqual({
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
})
