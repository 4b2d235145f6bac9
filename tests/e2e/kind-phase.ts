/**
 * The test command's `kind` phase: the e2e harness on a real kind cluster, from a workspace of its
 * own (a copy of the checkout, its own state folder, personal key and planted secrets; a cluster
 * name no one else uses), offline: the node image and the platform's images built by the tools
 * installer (lib/tools/kind-images), the charts from a mirror folder of STAND-IN charts
 * (tests/standins). Two rounds of destroy → create → openbao-setup → assertions → a second create
 * that writes nothing; then destroy. Ends with one line:
 *
 *   kind e2e: 2 rounds, N assertions passed, M failed
 *
 * Skipped with one line, never faked, where it cannot run safely: no Docker engine, or no egress
 * guard (nothing a container sends may leave the machine: `.ci/docker-engine.sh` sets it up).
 * Writes reports/kind-e2e.json ({ passed, failed, skipped }) for the test command's totals.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { OVERRIDE_VARIABLES } from '../../lib/config.ts'
import { errorMessage } from '../../lib/errors.ts'
import { repoRoot } from '../../lib/paths.ts'
import { toolsPath } from '../../lib/tools/catalogue.ts'
import { ensureKindImages } from '../../lib/tools/kind-images/index.ts'
import { makeWorkspace, type Workspace } from '../local/workspace.ts'
import { buildStandinCharts } from '../standins/chart-mirror.ts'
import { ROUNDS, realDeps, runE2ERounds } from './harness.ts'

const reports = join(repoRoot, 'reports')
// kind, helm and the rest from the tools cache first, as every run of the runbook finds them.
process.env.PATH = toolsPath(process.env.PATH)
const say = (line: string) => process.stdout.write(`${line}\n`)

interface Outcome {
  passed: number
  failed: number
  skipped?: string
}

function finish(outcome: Outcome): never {
  mkdirSync(reports, { recursive: true })
  writeFileSync(join(reports, 'kind-e2e.json'), `${JSON.stringify(outcome, null, 2)}\n`)
  if (outcome.skipped) say(`kind e2e: skipped: ${outcome.skipped}`)
  else say(`kind e2e: ${ROUNDS} rounds, ${outcome.passed} assertions passed, ${outcome.failed} failed`)
  process.exit(outcome.failed ? 1 : 0)
}

/** Whether an engine answers, and whether what its containers send is kept on this machine. */
async function readiness(): Promise<string | undefined> {
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], {
    reject: false,
    timeout: 15_000,
  })
  if (info.exitCode !== 0)
    return 'no Docker engine answers (`docker info`); the kind tier runs where one does (CI installs one: .ci/docker-engine.sh)'
  const route = await execa('ip', ['route', 'show', 'default'], { reject: false })
  const iface = /\bdev (\S+)/.exec(String(route.stdout))?.[1]
  if (!iface) return undefined // no default route: nothing can leave the machine
  const guard = await execa('iptables', ['-C', 'DOCKER-USER', '-o', iface, '-j', 'REJECT'], { reject: false })
  if (guard.exitCode !== 0)
    return `no egress guard: containers could reach the network through ${iface}; as root: \`iptables -I DOCKER-USER -o ${iface} -j REJECT\` (what .ci/docker-engine.sh does)`
  return undefined
}

async function main(): Promise<Outcome> {
  const notReady = await readiness()
  if (notReady) return { passed: 0, failed: 0, skipped: notReady }

  say(
    'kind phase: the offline node image and image archives (built by the tools installer; cached after the first run)',
  )
  const images = await ensureKindImages({ offline: true })
  if (!images.nodeImage || !images.archiveDir) {
    say(
      `kind phase: no offline node image and archives (${images.reason ?? images.action}): \`just tools\` builds them`,
    )
    return { passed: 0, failed: 1 }
  }

  const name = `pb-e2e-${randomBytes(3).toString('hex')}`
  let ws: Workspace | undefined
  const scratch: string[] = []
  const cleanup = async () => {
    await execa('kind', ['delete', 'cluster', '--name', name], { reject: false, timeout: 120_000 })
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)))
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)))
  try {
    const mirror = join(reports, 'kind-chart-mirror')
    const helmHome = mkdtempSync(join(tmpdir(), 'pb-kind-helm-'))
    scratch.push(helmHome)
    say(
      'kind phase: the stand-in charts (argo-cd from Argo CD v3.6.1 install.yaml, openbao) into a mirror folder',
    )
    await buildStandinCharts(mirror, { log: (line) => say(`  ${line}`) })
    ws = await makeWorkspace({
      envName: 'dev',
      configure: (config) => {
        ;(config.cluster as Record<string, unknown>).name = name
        // Offline there is no Secrets Store CSI driver (its images are served by no registry here):
        // the consumers of patterns A and B and the driver are left out; OpenBao and the rest run.
        ;(config.gitops as Record<string, unknown>).include = [
          'platform/*',
          'tenants/*',
          'runtime-secrets/openbao.yaml',
          'overlays/dev.yaml',
        ]
      },
      variables: {
        // helm's cache and config: the workspace's, never the user's.
        HELM_CACHE_HOME: join(helmHome, 'cache'),
        HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'),
        [OVERRIDE_VARIABLES.chartsMirror]: mirror,
        [OVERRIDE_VARIABLES.imageArchives]: images.archiveDir,
        [OVERRIDE_VARIABLES.nodeImage]: images.nodeImage,
      },
    })
    // The harness reads the workspace's files in this process too: its state folder, its personal key.
    Object.assign(process.env, ws.variables)
    const deps = realDeps(ws.env, reports)
    deps.redactor.addAll(Object.values(ws.planted))
    const outcome = await runE2ERounds(deps)
    say('kind phase: destroy')
    // After a failed round OpenBao may never have run: no snapshot to take, so the cleanup is forced.
    const destroyed = await ws.cli('scripts/destroy.ts', outcome.failed ? ['--force'] : [])
    const left = await execa(
      'docker',
      ['ps', '-a', '--quiet', '--filter', `label=io.x-k8s.kind.cluster=${name}`],
      {
        reject: false,
      },
    )
    const failedEnd = destroyed.code !== 0 || String(left.stdout).trim() !== ''
    if (failedEnd)
      say(
        `kind phase: the final destroy ${destroyed.code !== 0 ? `exited ${destroyed.code}` : 'left containers behind'}`,
      )
    const leaked = leaks(ws)
    for (const line of leaked) say(`kind phase: ${line}`)
    return { passed: outcome.passed, failed: outcome.failed + (failedEnd ? 1 : 0) + leaked.length }
  } finally {
    await cleanup()
    await ws?.dispose()
  }
}

/** Every value the workspace planted, searched for in everything every run printed. */
function leaks(ws: Workspace): string[] {
  const text = ws.transcript.join('\n')
  return Object.entries(ws.planted)
    .filter(([, value]) => value && text.includes(value))
    .map(([key]) => `the planted value of ${key} appears in the runbook's output`)
}

try {
  finish(await main())
} catch (error) {
  say(`kind phase: ${errorMessage(error)}`)
  finish({ passed: 0, failed: 1 })
}
