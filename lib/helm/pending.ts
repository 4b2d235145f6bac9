import { basename } from 'node:path'
import { commandsRunning, flagValue } from '../core/commands-running.ts'
import { BootstrapError } from '../core/errors.ts'
import { formatMs } from '../runner/log.ts'

/**
 * Helm's lock on a release is its latest revision's status: pending-install, -upgrade or -rollback
 * while an operation runs, deployed or failed once it ends (helm v3 pkg/action/upgrade.go: an
 * upgrade of a pending release fails with "another operation (install/upgrade/rollback) is in
 * progress"). A helm killed on the way (SIGKILL, a machine that went down; a SIGINT or SIGTERM it
 * handles, marking the release failed) leaves the lock taken for good, and every later create
 * would fail on it. Whether the operation is dead is judged here; release.ts acts on it.
 */

export const isPending = (status: string) => status.startsWith('pending-')

export type PendingJudgement =
  /** A helm on this machine still works on the release: wait for it to end. */
  | { verdict: 'running-here' }
  /** No operation can still be running: the pending revision may be marked failed. */
  | { verdict: 'dead'; why: string }
  /** A helm elsewhere may still be applying it: refused, with the time from which it is taken for dead. */
  | { verdict: 'maybe-running-elsewhere'; deadFrom: number }

export interface PendingFacts {
  /** When the pending operation started (its revision's info.last_deployed), ms since the epoch. */
  startedAt: number | undefined
  now: number
  /** The longest a helm operation of this runbook lives: past it, one of ours was killed by the run itself. */
  lifetimeMs: number
  /** helm processes on this machine working on the release. */
  helmHere: number
  /** The cluster is reachable from this machine only (kind): no helm elsewhere can hold the lock. */
  clusterOnlyHere: boolean
}

export function judgePending(facts: PendingFacts): PendingJudgement {
  if (facts.helmHere > 0) return { verdict: 'running-here' }
  if (facts.clusterOnlyHere)
    return {
      verdict: 'dead',
      why: 'no helm on this machine works on it, and no other machine reaches this cluster',
    }
  if (facts.startedAt === undefined)
    return { verdict: 'dead', why: 'no helm on this machine works on it, and helm recorded no start for it' }
  const age = facts.now - facts.startedAt
  if (age >= facts.lifetimeMs)
    return {
      verdict: 'dead',
      why: `it started ${formatMs(age)} ago, longer than any helm operation of this runbook lives (${formatMs(facts.lifetimeMs)})`,
    }
  return { verdict: 'maybe-running-elsewhere', deadFrom: facts.startedAt + facts.lifetimeMs }
}

const OPERATIONS = new Set(['install', 'upgrade', 'rollback', 'uninstall'])

/**
 * The helm processes on this machine operating on a release (`helm upgrade|install|rollback|uninstall
 * <name> … --namespace <ns>`), read from /proc.
 */
export function helmOperationsHere(
  release: { name: string; namespace: string },
  procRoot = '/proc',
): number[] {
  return commandsRunning((argv) => {
    if (basename(argv[0] ?? '') !== 'helm') return false
    const args = argv.slice(1)
    return (
      OPERATIONS.has(args[0] ?? '') &&
      args.includes(release.name) &&
      flagValue(args, '--namespace', '-n') === release.namespace
    )
  }, procRoot)
}

/** The refusal when a helm elsewhere may still hold the lock. */
export function pendingElsewhere(
  label: string,
  revision: number,
  status: string,
  deadFrom: number,
  now: number,
) {
  return new BootstrapError(
    `${label}: revision ${revision} is ${status}, and no helm on this machine works on it: a helm on another machine may still be applying it (helm's own lock)`,
    {
      hint: `run create again once that operation is over (\`helm history\` shows the revision leave ${status}); from ${new Date(deadFrom).toISOString()} (in ${formatMs(deadFrom - now)}) this runbook takes it for dead and marks it failed`,
    },
  )
}

/** What helm answers when the release's latest revision is pending (helm v3 pkg/action: errPending). */
export const HELM_LOCKED = 'another operation (install/upgrade/rollback) is in progress'

/**
 * The refusal when a helm took the release between this run's read and its upgrade: helm refused
 * before it changed anything.
 */
export function lockTakenMeanwhile(label: string, release: { name: string; namespace: string }) {
  return new BootstrapError(
    `${label}: another helm operation took the release after this run read it, and helm refused this run's upgrade ("${HELM_LOCKED}"): nothing of the release was changed`,
    {
      hint: `run create again once that operation is over (\`helm history ${release.name} -n ${release.namespace}\` shows its revision leave pending-…); a revision left pending by a helm that died is repaired by that run`,
    },
  )
}
