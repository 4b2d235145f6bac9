import { readdirSync, readFileSync } from 'node:fs'

/**
 * The processes on this machine whose command line `matches` (argv, as /proc/<pid>/cmdline holds
 * it): how a run finds what a stopped run left working — a helm on a release, a kind creating a
 * cluster — which outlives the run that started it. Processes it may not read are not seen, nor
 * any where there is no /proc (macOS): there, what such a process leaves is still judged as if it
 * had ended.
 */
export function commandsRunning(matches: (argv: string[]) => boolean, procRoot = '/proc'): number[] {
  const pids: number[] = []
  let entries: string[]
  try {
    entries = readdirSync(procRoot)
  } catch {
    return pids
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let argv: string[]
    try {
      argv = readFileSync(`${procRoot}/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean)
    } catch {
      continue // gone, or not ours to read
    }
    if (matches(argv)) pids.push(Number(entry))
  }
  return pids
}

/** The value of `--flag value` or `--flag=value` in `args` (a short alias too, when given). */
export function flagValue(args: string[], flag: string, short?: string): string | undefined {
  const at = args.findIndex((arg) => arg === flag || (short !== undefined && arg === short))
  if (at >= 0) return args[at + 1]
  return args.find((arg) => arg.startsWith(`${flag}=`))?.slice(flag.length + 1)
}

/** What /proc/<pid>/stat says of a process: its state letter, its parent and its process group. */
export interface ProcessStat {
  state: string
  parent: number
  group: number
}

/** A process's /proc/<pid>/stat, read; undefined once it is gone (or where there is no /proc). */
export function processStat(pid: number | 'self', procRoot = '/proc'): ProcessStat | undefined {
  let stat: string
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The fields after "(comm)": comm may contain spaces and parentheses.
  const [state = '', parent, group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { state, parent: Number(parent), group: Number(group) }
}
