import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseDocument } from 'yaml'
import { BootstrapError } from '../../lib/core/errors.ts'
import { run } from '../../lib/core/exec.ts'
import { versions } from '../../lib/core/versions.ts'
import { proxyOnly } from '../../lib/tools/kind-images/context.ts'

/**
 * STAND-IN charts, not the upstream ones: the argo-cd and openbao charts the runbook installs
 * (lib/core/versions.ts versions.charts) cannot be had from any registry the CI tier reaches, so the
 * tests serve these in their place, under the same chart names and versions, from a chart mirror.
 * The skeletons are committed under tests/standins/charts/<chart name>; the argo-cd one renders
 * Argo CD's own release manifests (manifests/install.yaml of the pinned Argo CD module), which are
 * never committed: they are copied in here, from the Go module cache, when the chart is packaged.
 */

/** The committed chart skeletons, one folder per chart name. */
export const standinChartsDir = join(dirname(fileURLToPath(import.meta.url)), 'charts')

/** Where the argo-cd skeleton's templates read Argo CD's install.yaml from (`.Files.Get`). */
export const ARGOCD_INSTALL_FILE = 'files/install.yaml'

/** The Argo CD module whose manifests/install.yaml the argo-cd stand-in renders. */
export const argocdModule = `github.com/argoproj/argo-cd/v3@${versions.argocd}`

interface StandinChart {
  /** Name and version under which the mirror serves it: the runbook's pins. */
  chart: { name: string; version: string }
  /** The version of what the chart runs. */
  appVersion: string
}

/** The stand-ins, in the order buildStandinCharts returns their packages. */
export const standinCharts: readonly StandinChart[] = [
  { chart: versions.charts.argocd, appVersion: versions.argocd },
  { chart: versions.charts.openbao, appVersion: versions.openbao },
]

export interface BuildStandinChartsOptions {
  /** Progress, one line at a time. */
  log?(line: string): void
}

/**
 * Assembles the stand-in charts and packages them into outDir as `<name>-<version>.tgz`
 * (argo-cd-10.1.1.tgz, openbao-0.26.0.tgz with today's pins); returns the package paths, argo-cd
 * first. helm is found on PATH (with the tools cache first, as lib/core/exec.ts runs every tool); the
 * Argo CD module comes from the Go module proxy (or the module cache) through `go mod download`.
 */
export async function buildStandinCharts(
  outDir: string,
  opts: BuildStandinChartsOptions = {},
): Promise<string[]> {
  const log = opts.log ?? (() => {})
  mkdirSync(outDir, { recursive: true })
  const work = mkdtempSync(join(tmpdir(), 'standin-charts-'))
  try {
    const installYaml = await argocdInstallYaml(work, log)
    const packages: string[] = []
    for (const standin of standinCharts) {
      const dir = assembleChart(standin, work)
      if (standin.chart.name === versions.charts.argocd.name) {
        const target = join(dir, ARGOCD_INSTALL_FILE)
        mkdirSync(dirname(target), { recursive: true })
        cpSync(installYaml, target)
      }
      packages.push(await packageChart(dir, standin, outDir, log))
    }
    return packages
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Copies a committed skeleton into work/<name> with the pinned name, version and appVersion in its Chart.yaml. */
function assembleChart(standin: StandinChart, work: string): string {
  const source = join(standinChartsDir, standin.chart.name)
  if (!existsSync(join(source, 'Chart.yaml'))) {
    throw new BootstrapError(`no stand-in chart skeleton for ${standin.chart.name} in ${standinChartsDir}`)
  }
  const dir = join(work, standin.chart.name)
  cpSync(source, dir, { recursive: true })
  const chartFile = join(dir, 'Chart.yaml')
  const chart = parseDocument(readFileSync(chartFile, 'utf8'))
  chart.set('name', standin.chart.name)
  chart.set('version', standin.chart.version)
  chart.set('appVersion', standin.appVersion)
  writeFileSync(chartFile, chart.toString())
  return dir
}

async function packageChart(
  dir: string,
  standin: StandinChart,
  outDir: string,
  log: (line: string) => void,
): Promise<string> {
  await run('helm', ['package', dir, '--destination', outDir], {
    timeoutMs: 120_000,
    hint: 'is helm on PATH? (`just tools helm`, then PATH from toolsPath() in lib/tools/catalogue.ts)',
  })
  const file = join(outDir, `${standin.chart.name}-${standin.chart.version}.tgz`)
  if (!existsSync(file)) throw new BootstrapError(`helm package wrote no ${file}`)
  log(`stand-in chart ${standin.chart.name} ${standin.chart.version} (${standin.appVersion}): ${file}`)
  return file
}

/**
 * Argo CD's manifests/install.yaml from the pinned module: `go mod download -json` in an empty
 * folder (no go.mod or go.work of the checkout around it), with the Go toolchain the module needs
 * and the module proxy alone (a module missing from it must not be fetched from its origin).
 */
async function argocdInstallYaml(work: string, log: (line: string) => void): Promise<string> {
  const cwd = join(work, 'go-mod-download')
  mkdirSync(cwd, { recursive: true })
  const goproxy =
    process.env.GOPROXY ??
    (await run('go', ['env', 'GOPROXY'], { cwd, hint: 'is go installed?' })).stdout.trim()
  const env = {
    GOTOOLCHAIN: versions.goToolchain,
    GOPROXY: proxyOnly(goproxy),
    GOFLAGS: '-mod=mod',
    GOWORK: 'off',
  }
  log(`go mod download ${argocdModule} (GOPROXY=${env.GOPROXY})`)
  const { stdout } = await run('go', ['mod', 'download', '-json', argocdModule], {
    cwd,
    env,
    timeoutMs: 600_000,
    hint: `is go installed, and can it reach ${env.GOPROXY} (or is ${argocdModule} in the module cache)?`,
  })
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string }
  if (info.Error || !info.Dir) {
    throw new BootstrapError(`go mod download ${argocdModule}: ${info.Error ?? 'no Dir in its answer'}`)
  }
  const file = join(info.Dir, 'manifests', 'install.yaml')
  if (!existsSync(file)) throw new BootstrapError(`${argocdModule} has no manifests/install.yaml`)
  const image = `quay.io/argoproj/argocd:${versions.argocd}`
  if (!readFileSync(file, 'utf8').includes(`image: ${image}`)) {
    throw new BootstrapError(`${file} does not run ${image}: not the release manifests of ${versions.argocd}`)
  }
  return file
}
