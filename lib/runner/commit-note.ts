import { runStatus } from '../core/exec.ts'
import type { Context } from './context.ts'

/**
 * Whether a file the runbook just wrote into the checkout belongs in git, said where it is written.
 * A per-machine file (dev, local; the personal cluster-key backup) is gitignored and goes unsaid.
 * A shared environment's OpenBao init file and snapshot are not: encrypted to the team's and the
 * cluster's keys, they are what a teammate's next run needs — so the line says to commit them.
 */
export async function sayWhetherToCommit(ctx: Context, file: string): Promise<void> {
  const git = (...args: string[]) => runStatus('git', ['-C', ctx.env.root, ...args], { timeoutMs: 10_000 })
  const ignored = await git('check-ignore', '--quiet', '--', file)
  // 1: not ignored; 0: ignored; anything else: no git here (an unpacked archive), nothing to say.
  if (ignored.exitCode !== 1) return
  const status = await git('status', '--porcelain', '--', file)
  if (!status.stdout.trim()) return
  const state = status.stdout.startsWith('??') ? 'new' : 'changed'
  ctx.log.detail(
    `${file} is ${state} in the checkout (encrypted): commit it, so a teammate's next run of ${ctx.env.name} finds it`,
  )
}
