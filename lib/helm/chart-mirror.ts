import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { parse, stringify } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { versions } from '../core/versions.ts'
import type { KObject } from '../kube/client.ts'
import { MANAGED_BY } from '../kube/manifests.ts'
import type { ChartMirror, EnvConfig } from '../runner/config.ts'

/**
 * Charts from a mirror instead of their upstream repositories (air-gapped networks): step 06 installs
 * Argo CD's chart from it, and the published gitops tree names it wherever an Application or
 * AppProject names an upstream chart repository. A Helm repository URL is used as it is. A folder of
 * chart packages is served to Argo CD from inside the cluster — a ConfigMap per package and a small
 * HTTP server in Argo CD's namespace — so nothing of it is reachable off the machine or needs a
 * host the pods can reach.
 */

export interface ChartRef {
  name: string
  version: string
  repo: string
}

/** The upstream chart repositories the gitops tree and step 06 name (lib/core/versions.ts). */
export function upstreamChartRepos(): string[] {
  return [...new Set(Object.values(versions.charts).map((chart) => chart.repo))]
}

const SERVER = { name: 'chart-mirror', port: 8080, mountPath: '/charts' } as const

/** The repository URL Argo CD uses for charts, or undefined without a mirror. */
export function chartRepoURL(env: EnvConfig): string | undefined {
  const mirror = env.charts.mirror
  if (!mirror) return undefined
  if (mirror.kind === 'url') return mirror.url
  return `http://${SERVER.name}.${env.argocd.namespace}.svc.cluster.local:${SERVER.port}`
}

/** What helm is given for a chart: a repository and version, or a package file from the mirror folder. */
export function helmChartArgs(env: EnvConfig, chart: ChartRef): string[] {
  const mirror = env.charts.mirror
  if (mirror?.kind === 'folder') return [packageFile(mirror, chart)]
  const repo = mirror?.kind === 'url' ? mirror.url : chart.repo
  return [chart.name, '--repo', repo, '--version', chart.version]
}

/** Where a chart comes from, for `just doctor` and the logs. */
export function chartSource(env: EnvConfig, chart: ChartRef): string {
  const mirror = env.charts.mirror
  if (!mirror) return chart.repo
  return mirror.kind === 'url'
    ? `${mirror.url} (charts.mirror)`
    : `${packageFile(mirror, chart)} (charts.mirror)`
}

function packageFile(mirror: Extract<ChartMirror, { kind: 'folder' }>, chart: ChartRef): string {
  const file = join(mirror.path, `${chart.name}-${chart.version}.tgz`)
  if (!existsSync(file))
    throw new BootstrapError(`the charts mirror ${mirror.path} has no ${chart.name}-${chart.version}.tgz`, {
      hint: `put the chart package there (\`helm pull ${chart.name} --repo ${chart.repo} --version ${chart.version}\` where that repository is reachable), or point charts.mirror (or $PLATFORM_CHARTS_MIRROR) at a mirror that has it`,
      exitCode: 2,
    })
  return file
}

/** A chart package of the mirror folder: its file, Chart.yaml and digest. */
interface ChartPackage {
  file: string
  chart: Record<string, unknown> & { name: string; version: string }
  digest: string
  bytes: Buffer
}

/** A ConfigMap holds at most 1 MiB; a package must leave room for the object around it. */
const MAX_PACKAGE_BYTES = 900 * 1024

function readPackages(folder: string): ChartPackage[] {
  if (!existsSync(folder))
    throw new BootstrapError(`charts.mirror ${folder} does not exist`, {
      hint: 'make the folder and put the chart packages (`<name>-<version>.tgz`) in it, or give a Helm repository URL',
      exitCode: 2,
    })
  return readdirSync(folder)
    .filter((name) => name.endsWith('.tgz'))
    .sort()
    .map((name) => {
      const file = join(folder, name)
      const bytes = readFileSync(file)
      if (bytes.length > MAX_PACKAGE_BYTES)
        throw new BootstrapError(
          `${file} is ${Math.round(bytes.length / 1024)} kB: too large to serve from a ConfigMap (${MAX_PACKAGE_BYTES / 1024} kB at most)`,
          { hint: 'serve the charts from a Helm repository and give its URL as charts.mirror', exitCode: 2 },
        )
      return { file, chart: chartYamlOf(file, bytes), digest: sha256(bytes), bytes }
    })
}

/** Chart.yaml of a package: the first `<dir>/Chart.yaml` member of the gzipped tar. */
function chartYamlOf(file: string, bytes: Buffer): ChartPackage['chart'] {
  let tar: Buffer
  try {
    tar = gunzipSync(bytes)
  } catch {
    throw new BootstrapError(`${file} is not a chart package (not gzip)`, { exitCode: 2 })
  }
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512)
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
    if (!name) break
    const size = Number.parseInt(
      header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0',
      8,
    )
    const body = offset + 512
    if (/^[^/]+\/Chart\.yaml$/.test(name)) {
      const chart = parse(tar.subarray(body, body + size).toString('utf8')) as ChartPackage['chart']
      if (chart?.name && chart.version) return chart
    }
    offset = body + Math.ceil(size / 512) * 512
  }
  throw new BootstrapError(`${file} is not a chart package (no Chart.yaml with a name and version)`, {
    exitCode: 2,
  })
}

/**
 * A repository index whose every byte follows from the packages: Helm's own (`helm repo index`)
 * stamps the time it was made, and an index that changes on every run would make every create a write.
 */
export function repositoryIndex(packages: Pick<ChartPackage, 'file' | 'chart' | 'digest'>[]): string {
  const entries: Record<string, unknown[]> = {}
  for (const { file, chart, digest } of packages) {
    const { name } = chart
    entries[name] ??= []
    entries[name].push({
      ...chart,
      digest,
      urls: [file.split('/').pop()],
      created: '1970-01-01T00:00:00Z',
    })
  }
  return stringify({ apiVersion: 'v1', entries, generated: '1970-01-01T00:00:00Z' })
}

/** The objects that serve a mirror folder inside the cluster; none for a URL or no mirror. */
export async function chartMirrorObjects(env: EnvConfig): Promise<KObject[]> {
  const mirror = env.charts.mirror
  if (mirror?.kind !== 'folder') return []
  // Loaded only here: a run without a mirror folder (the local stack's no-op create) never pays for them.
  const [{ ConfigMap }, { Deployment }, { Service }] = await Promise.all([
    import('kubernetes-models/v1/ConfigMap'),
    import('kubernetes-models/apps/v1/Deployment'),
    import('kubernetes-models/v1/Service'),
  ])
  const namespace = env.argocd.namespace
  const packages = readPackages(mirror.path)
  const labels = { ...MANAGED_BY, 'app.kubernetes.io/name': SERVER.name }
  const index = repositoryIndex(packages)
  const configMaps = [
    new ConfigMap({
      metadata: { name: `${SERVER.name}-index`, namespace, labels },
      data: { 'index.yaml': index },
    }),
    ...packages.map(
      ({ file, chart, bytes }) =>
        new ConfigMap({
          metadata: {
            name: `${SERVER.name}-${chart.name}-${chart.version}`.toLowerCase(),
            namespace,
            labels,
          },
          binaryData: { [file.split('/').pop() as string]: bytes.toString('base64') },
        }),
    ),
  ]
  // A changed package rolls the server: the projected volume alone would lag a minute behind.
  const content = sha256(Buffer.from([index, ...packages.map((p) => p.digest)].join('\n')))
  const deployment = new Deployment({
    metadata: { name: SERVER.name, namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': SERVER.name } },
      template: {
        metadata: {
          labels: { 'app.kubernetes.io/name': SERVER.name },
          annotations: { 'platform-bootstrap/charts-sha256': content },
        },
        spec: {
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65534,
            runAsGroup: 65534,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'httpd',
              image: versions.images.busybox,
              command: ['httpd', '-f', '-v', '-p', String(SERVER.port), '-h', SERVER.mountPath],
              ports: [{ name: 'http', containerPort: SERVER.port }],
              readinessProbe: { httpGet: { path: '/index.yaml', port: SERVER.port }, periodSeconds: 2 },
              resources: { requests: { cpu: '5m', memory: '8Mi' }, limits: { cpu: '100m', memory: '32Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'charts', mountPath: SERVER.mountPath, readOnly: true }],
            },
          ],
          volumes: [
            {
              name: 'charts',
              projected: { sources: configMaps.map((cm) => ({ configMap: { name: cm.metadata?.name } })) },
            },
          ],
        },
      },
    },
  })
  const service = new Service({
    metadata: { name: SERVER.name, namespace, labels },
    spec: {
      selector: { 'app.kubernetes.io/name': SERVER.name },
      ports: [{ name: 'http', port: SERVER.port, targetPort: SERVER.port }],
    },
  })
  const models = [...configMaps, deployment, service]
  for (const model of models) model.validate()
  return models.map((model) => JSON.parse(JSON.stringify(model)) as KObject)
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
