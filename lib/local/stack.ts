import { existsSync, lstatSync, realpathSync, rmSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { formatMs, type Logger } from '../runner/log.ts'
import { ARGOCD_PROCESSES } from './argocd/argocd.ts'
import { CONTROL_PLANE_PROCESSES } from './control-plane.ts'
import { localLayout, ROOT_NODES_DIR, wipeTargets } from './layout.ts'
import { OPENBAO_PROCESS } from './openbao.ts'
import { Processes } from './process/processes.ts'

/**
 * The whole local stack at once: status, stop, and wipe. Stop order is the reverse of the
 * start order, and the apiserver goes before etcd: with etcd gone it hangs on SIGTERM.
 */

export const STOP_ORDER: readonly string[] = [
  ...[...ARGOCD_PROCESSES].reverse(),
  OPENBAO_PROCESS,
  ...[...CONTROL_PLANE_PROCESSES].reverse(),
]

export interface StopOptions {
  /** Also remove the cluster's state: etcd and OpenBao data, PKI, kubeconfigs, logs. */
  wipe?: boolean
  log: Logger
  /** Per process, before SIGKILL. */
  timeoutMs?: number
}

export async function stopStack(stateDir: string, options: StopOptions): Promise<void> {
  const { log } = options
  const procs = new Processes(stateDir)
  const names = [...STOP_ORDER, ...procs.list().map((r) => r.name)].filter(
    (n, i, all) => all.indexOf(n) === i,
  )
  for (const name of names) {
    const started = performance.now()
    const result = await procs.stop(name, options.timeoutMs ?? 10_000)
    if (result !== 'not-running') log.detail(`${name}: ${result} in ${formatMs(performance.now() - started)}`)
  }
  if (options.wipe) wipeState(stateDir, log)
}

/** Removes what the stack wrote in `stateDir`, by name; refuses anything that resolves outside it. */
function wipeState(stateDir: string, log: Logger): void {
  if (!existsSync(stateDir)) return
  const root = realpathSync(resolve(stateDir))
  if (root === '/' || root === realpathSync(resolve(process.env.HOME ?? '/'))) {
    throw new BootstrapError(`refusing to wipe ${root}: not a state dir`)
  }
  const removed: string[] = []
  const layout = localLayout(stateDir)
  // A root run's node is under /run, named by this state dir's hash: outside it by design.
  if (dirname(layout.node) === ROOT_NODES_DIR && existsSync(layout.node)) {
    rmSync(layout.node, { recursive: true, force: true })
    removed.push(layout.node)
  }
  for (const target of wipeTargets(layout).filter((target) => dirname(target) !== ROOT_NODES_DIR)) {
    if (!existsSync(target) && !isSymlink(target)) continue
    const rel = relative(root, resolve(realpathSync(resolve(target, '..')), target.split('/').pop() ?? ''))
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) {
      throw new BootstrapError(`refusing to wipe ${target}: it is outside ${root}`)
    }
    // rm removes a symbolic link itself, never what it points at.
    rmSync(target, { recursive: true, force: true })
    removed.push(rel)
  }
  if (removed.length > 0) log.detail(`wiped ${removed.join(', ')} in ${root}`)
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
