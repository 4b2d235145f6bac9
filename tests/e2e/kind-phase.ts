/**
 * The test command's `kind` phase: the e2e harness on a real kind cluster, from a workspace of its
 * own (a copy of the checkout, its own state folder, personal key and planted secrets; a cluster
 * name no one else uses), offline: the node image and the platform's images built by the tools
 * installer (lib/tools/kind-images), the charts from a mirror folder of STAND-IN charts
 * (tests/standins). Two rounds of destroy → create → openbao-setup → assertions → a second create
 * that writes nothing; then Argo CD's application controller crashes while an object it manages is
 * deleted, and create must repair it (controller-crash.ts); a helm upgrade of Argo CD's release
 * is killed half-way, and create must mark it failed and go on (pending-release.ts); destroy, and a
 * create killed during `kind create cluster` must be finished by the next (killed-kind-create.ts);
 * then destroy. Then the "existing" round (tests/e2e/existing-round.ts):
 * staging's provider on a second kind cluster, from create to `destroy --force`. Ends with one line:
 *
 *   kind e2e: 2 rounds + existing, N assertions passed, M failed
 *
 * `bun tests/e2e/kind-phase.ts existing` runs the existing round alone.
 *
 * Skipped with one line, never faked, where it cannot run safely: no Docker engine, or no egress
 * guard (nothing a container sends may leave the machine: `.ci/docker-engine.sh` sets it up).
 * Writes reports/kind-e2e.json ({ passed, failed, skipped }) for the test command's totals.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { errorMessage } from '../../lib/core/errors.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { toolsPath } from '../../lib/tools/catalogue.ts'
import type { Verdict } from '../assertions/assertions.ts'
import { leakedFields, type Workspace } from '../local/workspace.ts'
import { type CrashCheckDeps, controllerCrashCheck } from './controller-crash.ts'
import { runExistingRound } from './existing-round.ts'
import { type HarnessDeps, ROUNDS, runE2ERounds } from './harness.ts'
import { KILLED_KIND_CREATE, killedKindCreateCheck } from './killed-kind-create.ts'
import { kindNotReady, prepareKindWorkspace } from './kind-workspace.ts'
import { pendingReleaseCheck } from './pending-release.ts'
import { realDeps } from './real-deps.ts'

const reports = join(repoRoot, 'reports')
// kind, helm and the rest from the tools cache first, as every run of the runbook finds them.
process.env.PATH = toolsPath(process.env.PATH)
const say = (line: string) => process.stdout.write(`${line}\n`)
const only = process.argv[2]

interface Outcome {
  passed: number
  failed: number
  skipped?: string
}

function finish(outcome: Outcome): never {
  mkdirSync(reports, { recursive: true })
  writeFileSync(join(reports, 'kind-e2e.json'), `${JSON.stringify(outcome, null, 2)}\n`)
  if (outcome.skipped) say(`kind e2e: skipped: ${outcome.skipped}`)
  else
    say(
      `kind e2e: ${only === 'existing' ? '' : `${ROUNDS} rounds + `}existing, ${outcome.passed} assertions passed, ${outcome.failed} failed`,
    )
  process.exit(outcome.failed ? 1 : 0)
}

async function main(): Promise<Outcome> {
  const notReady = await kindNotReady()
  if (notReady) return { passed: 0, failed: 0, skipped: notReady }
  const ground = await prepareKindWorkspace(join(reports, 'kind-chart-mirror'), (line) =>
    say(`kind phase: ${line}`),
  )
  const stop = () => void ground.cleanup().then(() => process.exit(130))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const existing = () =>
      runExistingRound({
        nodeImage: ground.nodeImage,
        archiveDir: ground.archiveDir,
        mirror: ground.mirror,
        say: (line) => say(`kind phase: ${line}`),
      })
    if (only === 'existing') {
      const verdicts = await existing()
      return { passed: verdicts.filter((v) => v.ok).length, failed: verdicts.filter((v) => !v.ok).length }
    }
    const { ws, name } = ground
    const deps = realDeps(ws.env, reports, ground.track)
    deps.redactor.addAll(Object.values(ws.planted))
    const outcome = await runE2ERounds(deps)
    const crashes = outcome.failed
      ? []
      : [
          await afterCrash(
            ground.ws,
            deps,
            'the application controller crashes while an object it manages is deleted',
            'the controller crash check',
            controllerCrashCheck,
          ),
          await afterCrash(
            ground.ws,
            deps,
            "a helm upgrade of Argo CD's release is killed half-way",
            'the killed helm upgrade check',
            (base) => pendingReleaseCheck({ ...base, chartMirror: ground.mirror }),
          ),
          await judged(
            deps,
            'destroy, then a create killed during `kind create cluster`',
            KILLED_KIND_CREATE,
            () =>
              killedKindCreateCheck({
                ws,
                name,
                mask: (text) => deps.redactor.mask(text),
                say: (line) => say(`kind phase: ${line}`),
              }),
          ),
        ]
    say('kind phase: destroy')
    // After a failed round OpenBao may never have run: no snapshot to take, so it goes without one.
    const destroyed = await ws.cli('scripts/destroy.ts', outcome.failed ? ['--no-snapshot'] : [])
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
    const leaked = leakedFields(ws).map(
      (field) => `the planted value of ${field} appears in the runbook's output`,
    )
    for (const line of leaked) say(`kind phase: ${line}`)
    const verdicts = await existing()
    const all = [...crashes, ...verdicts]
    return {
      passed: outcome.passed + all.filter((v) => v.ok).length,
      failed: outcome.failed + (failedEnd ? 1 : 0) + leaked.length + all.filter((v) => !v.ok).length,
    }
  } finally {
    await ground.cleanup()
  }
}

/**
 * After the rounds, on the cluster they left: a crash, then create, judged by `check` (given the
 * cluster, the workspace's environment, a create whose output is masked, and the phase's voice).
 * One that throws fails under `name`, its message masked.
 */
async function afterCrash(
  ws: Workspace,
  deps: HarnessDeps,
  title: string,
  name: string,
  check: (base: CrashCheckDeps) => Promise<Verdict>,
): Promise<Verdict> {
  return judged(deps, title, name, async () =>
    check({
      kube: (await deps.connect()).kube,
      env: ws.env,
      create: async () => {
        const created = await ws.cli('scripts/create.ts')
        return { code: created.code, output: deps.redactor.mask(created.output) }
      },
      say: (line) => say(`kind phase: ${line}`),
      track: deps.track,
    }),
  )
}

/** A check after the rounds, said before and judged after; one that throws fails under `name`, its message masked. */
async function judged(
  deps: HarnessDeps,
  title: string,
  name: string,
  check: () => Promise<Verdict>,
): Promise<Verdict> {
  say(`kind phase: ${title}`)
  const verdict = await check().catch((error: unknown) => ({
    name,
    ok: false,
    message: deps.redactor.mask(errorMessage(error)),
  }))
  say(`kind phase: ${verdict.ok ? 'passed' : 'FAILED'}: ${verdict.name}: ${verdict.message}`)
  return verdict
}

try {
  finish(await main())
} catch (error) {
  say(`kind phase: ${errorMessage(error)}`)
  finish({ passed: 0, failed: 1 })
}
