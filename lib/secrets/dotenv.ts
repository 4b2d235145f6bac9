import { BootstrapError } from '../core/errors.ts'
import { redactor } from '../core/redact.ts'

/** `.env` files as secrets-generate reads them, and the names their keys become. */

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

export interface DotenvEntry {
  key: string
  value: string
  /** 1-based line number in the source. */
  line: number
}

/**
 * `KEY=value` lines (an optional `export ` before the key), blank lines and `#` comments.
 * Values: `"double"` (with \n \t \" \\ escapes), `'single'` (literal), or bare (trimmed, a ` #`
 * starts a comment). Every bad line is named in one error; no value is ever quoted in it.
 */
export function parseDotenv(text: string, source = '.env'): DotenvEntry[] {
  const { entries, problems } = readDotenv(text)
  if (problems.length > 0) throw inputError(source, problems)
  return entries
}

/** A problem with one input line: said with its line number, never with its value. */
export interface LineProblem {
  line: number
  message: string
}

/** parseDotenv without the throw: the good entries and every bad line, for one report of both. */
export function readDotenv(text: string): { entries: DotenvEntry[]; problems: LineProblem[] } {
  const entries: DotenvEntry[] = []
  const problems: LineProblem[] = []
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = index + 1
    if (!raw.trim() || raw.trim().startsWith('#')) continue
    const match = /^\s*(?:export\s+)?([A-Za-z0-9_]+)\s*=(.*)$/.exec(raw)
    if (!match) {
      // The line may be a pasted value: register it and say only where it is.
      redactor.add(raw.trim())
      problems.push({ line, message: `line ${line} is not KEY=value (KEY: letters, digits and _)` })
      continue
    }
    const key = match[1] as string
    const value = parseValue((match[2] as string).trim())
    if (value === undefined) {
      redactor.add((match[2] as string).trim())
      problems.push({
        line,
        message: `line ${line} (${key}) is not KEY=value: its quoted value is not closed on that line`,
      })
      continue
    }
    redactor.add(value)
    entries.push({ key, value, line })
  }
  return { entries, problems }
}

function parseValue(rest: string): string | undefined {
  const quote = rest[0]
  if (quote === '"' || quote === "'") {
    let out = ''
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i] as string
      if (c === quote) {
        const after = rest.slice(i + 1).trim()
        return after === '' || after.startsWith('#') ? out : undefined
      }
      if (quote === '"' && c === '\\' && i + 1 < rest.length) {
        const next = rest[++i] as string
        out += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : next
        continue
      }
      out += c
    }
    return undefined
  }
  const comment = rest.search(/\s#/)
  return (comment >= 0 ? rest.slice(0, comment) : rest).trim()
}

export function inputError(source: string, found: LineProblem[]): BootstrapError {
  const problems = [...found].sort((a, b) => a.line - b.line).map((problem) => problem.message)
  return new BootstrapError(
    problems.length === 1
      ? `${source}: ${problems[0]}; nothing was written`
      : `${source}: ${problems.length} problems, nothing was written:\n    ${problems.join('\n    ')}`,
    {
      hint: 'each line is KEY=value (UPPER_CASE key, an optional DEV_/STAGING_/PROD_… prefix); fix the lines named and run again',
      exitCode: 2,
    },
  )
}

/** `UPPER_CASE` → `lowercase-hyphen`: `HETZNER_API_TOKEN` → `hetzner-api-token`. */
export function normaliseName(key: string): string {
  return key.toLowerCase().replace(/_/g, '-')
}

export function isValidSecretName(name: string): boolean {
  return name.length <= 253 && K8S_NAME.test(name)
}

/** `my-env` → `MY_ENV_`: the prefix of an environment's variables. */
export function envPrefix(envName: string): string {
  return `${envName.toUpperCase().replace(/-/g, '_')}_`
}
