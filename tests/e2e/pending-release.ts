import { join } from 'node:path'
import { execa } from 'execa'
import { envStateDir } from '../../lib/core/paths.ts'
import { versions } from '../../lib/core/versions.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { deployedRelease, RELEASE_LABEL } from '../../lib/helm/binary.ts'
import { ARGOCD_RELEASE } from '../../lib/providers/helm-argocd.ts'
import { toolsPath } from '../../lib/tools/catalogue.ts'
import type { Verdict } from '../assertions/assertions.ts'
import type { CrashCheckDeps } from './controller-crash.ts'

/**
 * Crash-safety of step 06 on a real kind cluster: a helm upgrade of Argo CD's release killed
 * (SIGKILL) half-way leaves the release pending-upgrade — helm's lock, on which every later upgrade
 * fails ("another operation (install/upgrade/rollback) is in progress"). The next create must find
 * no helm working on it, mark that revision failed as helm marks one it sees interrupted, upgrade,
 * and converge.
 */

export interface PendingReleaseDeps extends CrashCheckDeps {
  /** The folder of chart packages the run installs Argo CD's chart from. */
  chartMirror: string
}

const NAME =
  "a helm upgrade of Argo CD's release killed half-way: the next create marks it failed and goes on"
/** A variable of the controller the runbook never sets (`controller.env`, in the upstream chart and the stand-in): the controller rolls, and helm waits for it. */
const VARIABLE = 'E2E_KILLED_UPGRADE'

export async function pendingReleaseCheck(deps: PendingReleaseDeps): Promise<Verdict> {
  const { kube, env } = deps
  const target = { name: ARGOCD_RELEASE, namespace: env.argocd.namespace }
  const before = await deployedRelease(kube, target)
  if (before?.status !== 'deployed')
    throw new Error(`release ${ARGOCD_RELEASE} is ${before?.status ?? 'absent'} before the check`)
  const chart = versions.charts.argocd
  const helm = execa(
    'helm',
    [
      'upgrade',
      ARGOCD_RELEASE,
      join(deps.chartMirror, `${chart.name}-${chart.version}.tgz`),
      '--namespace',
      target.namespace,
      '--kubeconfig',
      join(envStateDir(env.name), 'kubeconfig'),
      '--kube-context',
      `kind-${env.cluster.name}`,
      '--reuse-values',
      '--set-string',
      `controller.env[0].name=${VARIABLE},controller.env[0].value=yes`,
      '--labels',
      `${RELEASE_LABEL.key}=${RELEASE_LABEL.value}`,
      '--wait',
      '--timeout',
      '10m',
    ],
    { reject: false, env: { PATH: toolsPath(process.env.PATH), HELM_DRIVER: 'secret' } },
  )
  deps.track?.(helm)
  try {
    await waitFor(
      `revision ${before.revision + 1} pending-upgrade`,
      async () => (await deployedRelease(kube, target))?.status === 'pending-upgrade',
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    // Half-way: helm has applied the controller's new pod template and waits for it.
    await waitFor(
      "the controller's StatefulSet as helm applies it",
      async () => {
        const sts = await kube.get({
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          name: 'argocd-application-controller',
          namespace: target.namespace,
        })
        const containers =
          (sts?.spec as { template?: { spec?: { containers?: { env?: { name: string }[] }[] } } })?.template
            ?.spec?.containers ?? []
        return containers.some((container) => container.env?.some((variable) => variable.name === VARIABLE))
      },
      { timeoutMs: 180_000, intervalMs: 200 },
    )
  } finally {
    helm.kill('SIGKILL')
    await helm
  }
  const left = await deployedRelease(kube, target)
  deps.say(`pending release: helm killed; revision ${left?.revision} is ${left?.status}; create`)
  if (left?.status !== 'pending-upgrade')
    throw new Error(`the killed helm left revision ${left?.revision} ${left?.status}`)
  const created = await deps.create()
  const after = await deployedRelease(kube, target)
  const marked = /revision \d+, left pending-upgrade by a helm operation that died .*: marked failed/.test(
    created.output,
  )
  const ok =
    created.code === 0 && marked && after?.status === 'deployed' && after.revision === left.revision + 1
  return {
    name: NAME,
    ok,
    message: `create exited ${created.code}; ${marked ? `it marked revision ${left.revision} failed` : 'it never said it marked the revision failed'}; the release is now at revision ${after?.revision} ${after?.status}`,
  }
}
