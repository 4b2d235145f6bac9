import { run as defaultRun, type Run, type RunResult } from '../core/exec.ts'
import { personalAgeKeyFile } from '../core/paths.ts'
import { explainFailure, type SopsAction } from './explain.ts'

/** The sops binary: the one place it is named and run. */

export interface SopsDeps {
  run: Run
  env: NodeJS.ProcessEnv
}

export const defaultSopsDeps: SopsDeps = { run: defaultRun, env: process.env }

/** A sops that hangs fails its step instead of stalling it; encrypting or decrypting one file takes far less. */
export const SOPS_TIMEOUT_MS = 60_000

export interface SopsRunOptions {
  /** A failure's message calls the file "it": the caller names it already (a line of a per-file list). */
  terse?: boolean
  /** The age key file sops reads; default: SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt. */
  ageKeyFile?: string
  /** Where sops runs: the folder whose .sops.yaml applies, and the base of a relative file. */
  cwd?: string
}

/** The key file a run of sops is given, so a failure can name the one that was tried. */
export function keyFileOf(options: SopsRunOptions, deps: SopsDeps): string {
  return options.ageKeyFile ?? personalAgeKeyFile(deps.env)
}

type RunSopsOptions = SopsRunOptions & { input?: string; interactive?: boolean; untimed?: boolean }

/** Runs `sops <args>` on `file`; a failure comes back explained for it (explain.ts). */
export async function runSopsOn(
  file: string,
  action: SopsAction,
  args: string[],
  options: RunSopsOptions,
  deps: SopsDeps,
): Promise<RunResult> {
  try {
    return await runSops(args, options, deps)
  } catch (error) {
    throw await explainFailure(error, {
      file,
      action,
      keyFile: keyFileOf(options, deps),
      cwd: options.cwd,
      terse: options.terse,
    })
  }
}

/**
 * Runs `sops <args>`. Errors are sops' own (ProcessError, or BootstrapError 127 when sops is
 * missing), for a caller that reads them first (an editor's exit code 200, a command's failure).
 * An editor (`interactive`) and a command run with the values (`untimed`) take as long as they take.
 */
export function runSops(args: string[], options: RunSopsOptions, deps: SopsDeps): Promise<RunResult> {
  return deps.run('sops', args, {
    input: options.input,
    cwd: options.cwd,
    env: { ...deps.env, SOPS_AGE_KEY_FILE: keyFileOf(options, deps) },
    timeoutMs: options.interactive || options.untimed ? undefined : SOPS_TIMEOUT_MS,
    interactive: options.interactive,
  })
}
