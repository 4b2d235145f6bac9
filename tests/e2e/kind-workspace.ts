import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { run } from '../../lib/core/exec.ts'
import { kindDelete } from '../../lib/providers/kind-cli.ts'
import { OVERRIDE_VARIABLES } from '../../lib/runner/config.ts'
import { defaultToolDeps } from '../../lib/tools/deps.ts'
import { dockerEngine } from '../../lib/tools/kind-images/build/docker.ts'
import { ensureKindImages } from '../../lib/tools/kind-images/index.ts'
import { armReaper } from '../helpers/reaper.ts'
import { makeWorkspace, type Workspace } from '../local/workspace.ts'
import { buildStandinCharts } from '../standins/chart-mirror.ts'

/**
 * The kind tier's ground, shared by the test command's kind phase and `just bench`: whether it may
 * run here, and a workspace running `dev` offline on a cluster name no one else uses.
 */

/** Why the kind tier cannot run here (no engine, no egress guard), or undefined when it can. */
export async function kindNotReady(): Promise<string | undefined> {
  if (!(await dockerEngine(defaultToolDeps())))
    return 'no Docker engine answers (`docker version`); the kind tier runs where one does (CI installs one: .ci/docker-engine.sh)'
  const route = await execa('ip', ['route', 'show', 'default'], { reject: false })
  const iface = /\bdev (\S+)/.exec(String(route.stdout))?.[1]
  if (!iface) return undefined // no default route: nothing can leave the machine
  const guard = await execa('iptables', ['-C', 'DOCKER-USER', '-o', iface, '-j', 'REJECT'], { reject: false })
  if (guard.exitCode !== 0)
    return `no egress guard: containers could reach the network through ${iface}; as root: \`iptables -I DOCKER-USER -o ${iface} -j REJECT\` (what .ci/docker-engine.sh does)`
  return undefined
}

export interface KindWorkspace {
  ws: Workspace
  /** The kind cluster's name: `pb-e2e-<random>`. */
  name: string
  nodeImage: string
  archiveDir: string
  /** The mirror folder of stand-in charts. */
  mirror: string
  /** Deletes the cluster and the scratch folders, whatever state they are in. */
  cleanup(): Promise<void>
  /**
   * A process started against the cluster (a CLI run, a helm): if this process dies first, it is
   * killed with what it started before the cluster is deleted, so nothing makes one again after.
   */
  track(child: ChildProcess): void
}

/**
 * A workspace running `dev` offline: the node image and archives the tools installer built, the
 * STAND-IN charts of tests/standins from a mirror folder, and dev's include without the Secrets
 * Store CSI driver and its consumers (no image for them is obtainable offline). Its variables are
 * also set in this process, so the harness reads the workspace's state folder and key.
 */
export async function prepareKindWorkspace(
  mirror: string,
  say: (line: string) => void,
): Promise<KindWorkspace> {
  say('the offline node image and image archives (built by the tools installer; cached after the first run)')
  const images = await ensureKindImages({ offline: true })
  if (!images.nodeImage || !images.archiveDir)
    throw new Error(
      `no offline node image and archives (${images.reason ?? images.action}): \`just tools\` builds them`,
    )
  const name = `pb-e2e-${randomBytes(3).toString('hex')}`
  const helmHome = mkdtempSync(join(tmpdir(), 'pb-kind-helm-'))
  // This process killed outright: the cluster and helm's folder go all the same.
  const reaper = armReaper()
  reaper.kindCluster(name)
  reaper.folder(helmHome)
  let ws: Workspace | undefined
  const cleanup = async () => {
    try {
      // lib's runner: kind from the tools cache whatever this process's PATH, and a failure thrown.
      await kindDelete(run, name)
    } finally {
      rmSync(helmHome, { recursive: true, force: true })
      await ws?.dispose()
      reaper.disarm()
    }
  }
  try {
    say('the stand-in charts (argo-cd from Argo CD install.yaml, openbao) into a mirror folder')
    await buildStandinCharts(mirror, { log: (line) => say(`  ${line}`) })
    ws = await makeWorkspace({
      envName: 'dev',
      onRun: (child) => reaper.run(child),
      configure: (config) => {
        ;(config.cluster as Record<string, unknown>).name = name
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
    Object.assign(process.env, ws.variables)
    return {
      ws,
      name,
      cleanup,
      nodeImage: images.nodeImage,
      archiveDir: images.archiveDir,
      mirror,
      track: (child) => ws?.track(child),
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}
