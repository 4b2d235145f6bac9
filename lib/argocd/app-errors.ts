import type { KObject } from '../kube/client.ts'
import type { AppStatus } from './status.ts'

/**
 * Which Application errors waiting will not fix. Argo CD retries a failed render or sync with
 * backoff whatever the cause, so its phase says nothing: the message does. A cause below that stays
 * the same across polls for `STUCK_AFTER_MS` stops the wait with one line per Application; the
 * transient ones (a repo-server starting, a CRD not yet established, the API throttling) never do.
 * Judged from the objects alone, like status.ts.
 */
export type Cause = 'decryption' | 'plugin' | 'repository' | 'project' | 'rejected'

export interface AppError {
  cause: Cause
  /** The first meaningful line of the message: what a person reads first. */
  line: string
  /** The whole message, for the diagnostics. */
  detail: string
}

/** How long one deterministic error must stay the same before the wait gives up on it. */
export const STUCK_AFTER_MS = 30_000

const DETERMINISTIC: [Cause, RegExp][] = [
  [
    'decryption',
    /trouble decrypting|failed to get the data key|error getting data key|could not decrypt|decryption failed|no key could decrypt|MAC mismatch/i,
  ],
  [
    'plugin',
    /plugin[^\n]*not found|unable to find plugin|failed to load plugin|external plugins disabled|unable to load plugin/i,
  ],
  [
    'repository',
    /repository not found|authentication required|authentication failed|invalid username or password|could not read Username|Permission denied \(publickey\)|detected dubious ownership|does not appear to be a git repository|not a git repository|unable to resolve '[^']*' to a commit SHA|failed to list refs|couldn't find remote ref|knownhosts: key is unknown|ssh: handshake failed|x509: certificate|server gave HTTP response to HTTPS client|repository is empty|unsupported protocol scheme/i,
  ],
  [
    'project',
    // Not "referencing project X which does not exist": a wave's sync may be about to make it.
    /not permitted in project|do(?:es)? not match any of the allowed destinations/i,
  ],
  [
    'rejected',
    /\bis invalid: |admission webhook "[^"]*" denied|denied the request|field is immutable|cannot be handled as a/i,
  ],
]

const TRANSIENT =
  /connection refused|connection reset|context deadline exceeded|i\/o timeout|code = Unavailable|no such host|TLS handshake timeout|the server could not find the requested resource|no matches for kind|ensure CRDs are installed first|etcdserver|the object has been modified|please try again|too many requests|rate limit/i

/** What a person must do about each cause (the README's Troubleshooting says more). */
export const FIXES: Record<Cause, string> = {
  decryption:
    'a SOPS file is not encrypted to the cluster key, or the repo-server cannot read the key: `just secrets-check` names such files (README, Troubleshooting)',
  plugin:
    'the repo-server lacks KUSTOMIZE_PLUGIN_HOME or the KSOPS plugin, or kustomize.buildOptions is not in argocd-cm (README, Troubleshooting)',
  repository:
    "Argo CD cannot read the repository: check its repository Secret (step 04) and, for a served checkout, the repo-server's git config (README, Troubleshooting)",
  project: "the Application's AppProject refuses it: fix its source or destination in git, or the project",
  rejected: 'the API server refuses a manifest: fix it in git, the message names the object',
}

/** The error of an Application that waiting will not fix, if it shows one now. */
export function deterministicError(app: KObject): AppError | undefined {
  for (const message of errorMessages(app)) {
    if (TRANSIENT.test(message)) continue
    for (const [cause, pattern] of DETERMINISTIC) {
      const at = message.search(pattern)
      if (at >= 0) return { cause, line: meaningfulLine(message, at), detail: message }
    }
  }
  return undefined
}

/**
 * Every error an Application shows now: its conditions of type …Error, and the message of an
 * operation that did not succeed (a running one's only while it retries a failure: otherwise it
 * says what the sync waits for, which is progress).
 */
function errorMessages(app: KObject): string[] {
  const status = (app.status ?? {}) as AppStatus
  const { phase, message = '' } = status.operationState ?? {}
  const failed = phase && phase !== 'Succeeded' && (phase !== 'Running' || /Retrying attempt/.test(message))
  return [
    ...(status.conditions ?? []).filter((c) => /Error$/.test(c.type)).map((c) => c.message),
    ...(failed ? [message] : []),
  ].filter(Boolean)
}

/** How long an error on neither list may stay the same before the wait says it, still waiting. */
export const UNLISTED_GRACE_MS = 45_000

/**
 * Errors neither known to pass nor known to stay: the wait goes on (Argo CD may yet get past
 * them), but one that stays the same for `graceMs` is said once, so a person watching sees what
 * Argo CD sees long before the timeout — never silence.
 */
export class LingeringErrors {
  private readonly unchanged = new Unchanged()
  /** Each Application whose current error has been said (forgotten when it changes). */
  private readonly said = new Set<string>()

  constructor(private readonly graceMs = UNLISTED_GRACE_MS) {}

  /** The Applications whose error has just stayed the same for the grace period, with its first line. */
  observe(apps: KObject[], now: number): { app: string; line: string; forMs: number }[] {
    const due: { app: string; line: string; forMs: number }[] = []
    for (const app of apps) {
      const name = app.metadata.name
      const message = errorMessages(app)[0]
      const held = this.unchanged.heldFor(name, message && stripVolatile(message), now)
      if (held === undefined) this.said.delete(name)
      else if (message && held >= this.graceMs && !this.said.has(name)) {
        this.said.add(name)
        due.push({ app: name, line: meaningfulLine(message, 0), forMs: held })
      }
    }
    return due
  }
}

/** The line holding the match, without Argo CD's retry bookkeeping, cut to what fits a terminal line. */
function meaningfulLine(message: string, at: number): string {
  const start = message.lastIndexOf('\n', at) + 1
  const end = message.indexOf('\n', at)
  const line = stripVolatile(message.slice(start, end < 0 ? undefined : end)).trim()
  return line.length > 240 ? `${line.slice(0, 237)}...` : line
}

/** Argo CD adds the attempt and a timestamp on every retry: the same error, another text. */
function stripVolatile(text: string): string {
  return text
    .replace(/\s*Retrying attempt #\d+ at \S+?\.?$/gm, '')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
}

/**
 * Remembers since when each Application shows the same deterministic error. `observe` returns
 * every deterministic error shown now once one of them has stayed the same for `windowMs` (one
 * stuck Application is enough: the whole can no longer converge), else nothing.
 */
export class StuckErrors {
  private readonly unchanged = new Unchanged()

  constructor(private readonly windowMs = STUCK_AFTER_MS) {}

  observe(apps: KObject[], now: number): { app: string; error: AppError }[] | undefined {
    const current: { app: string; error: AppError }[] = []
    let stuck = false
    for (const app of apps) {
      const name = app.metadata.name
      const error = deterministicError(app)
      const held = this.unchanged.heldFor(name, error && `${error.cause} ${stripVolatile(error.detail)}`, now)
      if (!error) continue
      if (held !== undefined && held >= this.windowMs) stuck = true
      current.push({ app: name, error })
    }
    return stuck ? current : undefined
  }
}

/**
 * How long each thing has shown the same signature: the one memory behind "the same error for a
 * while" (a deterministic error, an error on no list, an Application Argo CD cannot delete).
 */
export class Unchanged {
  private readonly since = new Map<string, { signature: string; at: number }>()

  /**
   * Milliseconds `key` has shown `signature` unchanged; undefined the first time it shows it (or
   * shows another). No signature forgets the key.
   */
  heldFor(key: string, signature: string | undefined, now: number): number | undefined {
    if (signature === undefined) {
      this.since.delete(key)
      return undefined
    }
    const seen = this.since.get(key)
    if (seen?.signature === signature) return now - seen.at
    this.since.set(key, { signature, at: now })
    return undefined
  }
}
