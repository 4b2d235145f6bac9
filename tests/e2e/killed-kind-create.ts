import { basename, join } from 'node:path'
import { commandsRunning } from '../../lib/core/commands-running.ts'
import { envStateDir } from '../../lib/core/paths.ts'
import { waitFor } from '../../lib/core/wait.ts'
import { kindCreatesRunning } from '../../lib/providers/kind-cli.ts'
import type { Verdict } from '../assertions/assertions.ts'
import type { Workspace } from '../local/workspace.ts'

/**
 * Crash-safety of step 00 on a real kind cluster: a create killed (SIGKILL) while `kind create
 * cluster` runs kubeadm. kind outlives it and goes on alone; taken for a cluster to reuse, its node
 * gives a control plane kubeadm has not finished (403 for kubernetes-admin). The next create must
 * stop the kind left running, delete the half-made cluster, make it again and converge. Starts
 * from the platform the rounds left: destroyed first (OpenBao's snapshot taken), so the create
 * after the kill is also a create after a destroy.
 */

export interface KilledKindCreateDeps {
  ws: Workspace
  /** The kind cluster's name. */
  name: string
  mask(text: string): string
  say(line: string): void
}

export const KILLED_KIND_CREATE =
  'a create killed during `kind create cluster`: the next create stops the kind left running, makes the cluster again and converges'

export async function killedKindCreateCheck(deps: KilledKindCreateDeps): Promise<Verdict> {
  const { ws, name } = deps
  const destroyed = await ws.cli('scripts/destroy.ts')
  if (destroyed.code !== 0)
    throw new Error(`destroy exited ${destroyed.code}: ${deps.mask(destroyed.output)}`)
  const kubeconfig = join(envStateDir(ws.env.name), 'kubeconfig')
  // kind's own `docker exec` of kubeadm init in this cluster's control-plane node.
  const kubeadmInit = (argv: string[]) =>
    basename(argv[0] ?? '') === 'docker' &&
    argv.includes(`${name}-control-plane`) &&
    argv.includes('kubeadm') &&
    argv.includes('init')
  const killed = ws.spawnCli('scripts/create.ts')
  try {
    await waitFor(
      'kubeadm init in the new control-plane node',
      async () => killed.child.exitCode !== null || commandsRunning(kubeadmInit).length > 0,
      { timeoutMs: 180_000, intervalMs: 200 },
    )
  } finally {
    killed.child.kill('SIGKILL')
    await killed.done
  }
  if (!/creating from node image/.test(killed.output()))
    throw new Error(`the create ended before kind started: ${deps.mask(killed.output())}`)
  const orphans = kindCreatesRunning(name, kubeconfig)
  deps.say(
    `killed create: kind create ${orphans.length ? `still running on its own (pid ${orphans.join(', ')})` : 'gone with it'}; create again`,
  )
  const created = await ws.cli('scripts/create.ts')
  const output = deps.mask(created.output)
  const remade =
    /left half-made by a create stopped during `kind create cluster` .*: deleted, and made again/.test(output)
  const stopped = /left running by a create that was stopped: stopped/.test(output)
  const left = kindCreatesRunning(name, kubeconfig)
  const ok = created.code === 0 && remade && (orphans.length === 0 || stopped) && left.length === 0
  return {
    name: KILLED_KIND_CREATE,
    ok,
    message: [
      `create exited ${created.code}`,
      orphans.length
        ? stopped
          ? 'it stopped the kind create left running'
          : 'it never said it stopped the kind create left running'
        : 'no kind create was left running',
      remade
        ? 'it deleted the half-made cluster and made it again'
        : 'it never said it made the half-made cluster again',
      left.length ? `kind create still running: pid ${left.join(', ')}` : 'no kind create left running',
    ].join('; '),
  }
}
