import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaSync } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { caught } from '../../tests/helpers/caught.ts'
import { versions } from '../core/versions.ts'
import { type EnvConfig, loadConfig } from '../runner/config.ts'
import { chartMirrorObjects, chartRepoURL, helmChartArgs, repositoryIndex } from './chart-mirror.ts'

const dir = mkdtempSync(join(tmpdir(), 'pb-chart-mirror-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A real chart package, as `helm package` makes one: `<name>/Chart.yaml` in a gzipped tar. */
function chartPackage(folder: string, name: string, version: string, bytes = 0): string {
  const src = mkdtempSync(join(tmpdir(), 'pb-chart-src-'))
  mkdirSync(join(src, name, 'templates'), { recursive: true })
  writeFileSync(
    join(src, name, 'Chart.yaml'),
    `apiVersion: v2\nname: ${name}\nversion: ${version}\nappVersion: "1"\n`,
  )
  // Random content does not compress: a package of about `bytes`.
  if (bytes) writeFileSync(join(src, name, 'templates', 'blob.bin'), randomBytes(bytes))
  const file = join(folder, `${name}-${version}.tgz`)
  execaSync('tar', ['-czf', file, '-C', src, name])
  rmSync(src, { recursive: true, force: true })
  return file
}

function envWith(mirror: EnvConfig['charts']['mirror']): EnvConfig {
  const env = loadConfig('dev')
  return { ...env, charts: { mirror } }
}

describe('a charts mirror', () => {
  const folder = join(dir, 'mirror')
  mkdirSync(folder)
  const argocd = versions.charts.argocd
  chartPackage(folder, argocd.name, argocd.version)
  chartPackage(folder, versions.charts.openbao.name, versions.charts.openbao.version)

  it('without one, helm gets the upstream repository and Argo CD keeps the URLs as committed', () => {
    const env = envWith(undefined)
    expect(helmChartArgs(env, argocd)).toEqual([
      argocd.name,
      '--repo',
      argocd.repo,
      '--version',
      argocd.version,
    ])
    expect(chartRepoURL(env)).toBeUndefined()
  })

  it('a URL: helm and Argo CD both use it', () => {
    const env = envWith({ kind: 'url', url: 'https://charts.internal.example' })
    expect(helmChartArgs(env, argocd)).toEqual([
      argocd.name,
      '--repo',
      'https://charts.internal.example',
      '--version',
      argocd.version,
    ])
    expect(chartRepoURL(env)).toBe('https://charts.internal.example')
  })

  it("a folder: helm installs the package file, Argo CD pulls from the server in Argo CD's namespace", () => {
    const env = envWith({ kind: 'folder', path: folder })
    expect(helmChartArgs(env, argocd)).toEqual([join(folder, `${argocd.name}-${argocd.version}.tgz`)])
    expect(chartRepoURL(env)).toBe('http://chart-mirror.argocd.svc.cluster.local:8080')
  })

  it('a folder without the package names the file and how to get it', async () => {
    const env = envWith({ kind: 'folder', path: folder })
    const error = await caught(() => helmChartArgs(env, { ...argocd, version: '0.0.1' }))
    expect(error.message).toBe(`the charts mirror ${folder} has no argo-cd-0.0.1.tgz`)
    expect(error.hint).toContain(
      'helm pull argo-cd --repo https://argoproj.github.io/argo-helm --version 0.0.1',
    )
  })

  it('serves the folder from ConfigMaps through an HTTP server, validated, with an index Helm reads', async () => {
    const objects = await chartMirrorObjects(envWith({ kind: 'folder', path: folder }))
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ConfigMap/chart-mirror-index',
      `ConfigMap/chart-mirror-argo-cd-${argocd.version}`,
      `ConfigMap/chart-mirror-openbao-${versions.charts.openbao.version}`,
      'Deployment/chart-mirror',
      'Service/chart-mirror',
    ])
    const data = (objects[0]?.data ?? {}) as Record<string, string>
    const index = parse(data['index.yaml'] ?? '')
    expect(index.entries[argocd.name][0]).toMatchObject({
      name: argocd.name,
      version: argocd.version,
      urls: [`${argocd.name}-${argocd.version}.tgz`],
    })
    expect(index.entries[argocd.name][0].digest).toMatch(/^[0-9a-f]{64}$/)
    const deployment = objects[3] as unknown as { spec: { template: { spec: Record<string, unknown> } } }
    const pod = deployment.spec.template.spec as {
      containers: { image: string; securityContext: Record<string, unknown> }[]
      volumes: { projected: { sources: unknown[] } }[]
    }
    expect(pod.containers[0]?.image).toBe(versions.images.busybox)
    expect(pod.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true })
    expect(pod.volumes[0]?.projected.sources).toHaveLength(3)
  })

  it('the same packages make the same objects, byte for byte: a second create writes nothing', async () => {
    const env = envWith({ kind: 'folder', path: folder })
    expect(JSON.stringify(await chartMirrorObjects(env))).toBe(JSON.stringify(await chartMirrorObjects(env)))
    const entry = { file: '/m/a-1.0.0.tgz', chart: { name: 'a', version: '1.0.0' }, digest: 'd' }
    expect(repositoryIndex([entry])).toBe(repositoryIndex([entry]))
    expect(repositoryIndex([entry])).not.toMatch(/20\d\d-/)
  })

  it('refuses a package too large for a ConfigMap, saying to use a repository URL', async () => {
    const big = join(dir, 'big')
    mkdirSync(big)
    chartPackage(big, 'huge', '1.0.0', 1024 * 1024)
    const error = await caught(chartMirrorObjects(envWith({ kind: 'folder', path: big })))
    expect(error.message).toMatch(/huge-1\.0\.0\.tgz is \d+ kB: too large to serve from a ConfigMap/)
    expect(error.hint).toMatch(/Helm repository and give its URL/)
  })

  it('no objects for a URL mirror or none', async () => {
    expect(await chartMirrorObjects(envWith(undefined))).toEqual([])
    expect(await chartMirrorObjects(envWith({ kind: 'url', url: 'https://x' }))).toEqual([])
  })
})
