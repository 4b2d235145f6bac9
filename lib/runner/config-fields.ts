import { closest, distance } from 'fastest-levenshtein'
import { BootstrapError } from '../core/errors.ts'

/**
 * Reading the fields of a parsed YAML document, each reader checking one field's type and
 * throwing at the first that is wrong, so the schema that uses them (config.ts) states only
 * what each field must be.
 */

export type Doc = Record<string, unknown>

/** Field readers that throw one actionable error: file, field, expected, got. */
export class Fields {
  constructor(private readonly file: string) {}

  fail(path: string, expected: string, got: unknown): never {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got)
    throw new BootstrapError(
      `${this.file}: field "${path || '(document)'}" must be ${expected}, got ${shown}`,
      {
        exitCode: 2,
      },
    )
  }

  /** A mapping; with `keys`, one whose every key is known: a typo is an error, never a silent default. */
  object(value: unknown, path: string, keys?: readonly string[]): Doc {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      this.fail(path, 'a mapping', value)
    for (const key of Object.keys(value)) {
      if (!keys || keys.includes(key)) continue
      const field = path ? `${path}.${key}` : key
      const nearest = closest(key, [...keys])
      const guess =
        distance(key, nearest) <= Math.max(2, Math.floor(key.length / 3))
          ? ` — did you mean "${nearest}"?`
          : ''
      throw new BootstrapError(`${this.file}: unknown field "${field}"${guess}`, {
        hint: `the fields of ${path || 'the document'} are: ${keys.join(', ')}`,
        exitCode: 2,
      })
    }
    return value as Doc
  }

  list(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, 'a list', value)
    return value
  }

  string(doc: Doc, path: string, opts: { pattern?: RegExp; expected?: string } = {}): string {
    const value = doc[leaf(path)]
    const expected =
      opts.expected ?? (opts.pattern ? `a string matching ${opts.pattern}` : 'a non-empty string')
    if (typeof value !== 'string' || value.trim() === '') this.fail(path, expected, value)
    if (opts.pattern && !opts.pattern.test(value)) this.fail(path, expected, value)
    return value
  }

  optionalString(doc: Doc, path: string): string | undefined {
    return doc[leaf(path)] === undefined ? undefined : this.string(doc, path)
  }

  oneOf<T extends string>(doc: Doc, path: string, allowed: readonly T[]): T {
    const value = doc[leaf(path)]
    if (typeof value !== 'string' || !allowed.includes(value as T))
      this.fail(path, `one of ${allowed.join(', ')}`, value)
    return value as T
  }

  boolean(doc: Doc, path: string, fallback: boolean): boolean {
    const value = doc[leaf(path)]
    if (value === undefined) return fallback
    if (typeof value !== 'boolean') this.fail(path, 'true or false', value)
    return value
  }

  integer(doc: Doc, path: string, opts: { min: number; max: number; fallback: number }): number {
    const value = doc[leaf(path)]
    if (value === undefined) return opts.fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value < opts.min || value > opts.max)
      this.fail(path, `an integer from ${opts.min} to ${opts.max}`, value)
    return value
  }

  stringList(doc: Doc, path: string, opts: { pattern?: RegExp } = {}): string[] {
    const value = this.list(doc[leaf(path)], path)
    return value.map((_, i) => this.string(value as unknown as Doc, `${path}[${i}]`, opts))
  }

  stringMap(doc: Doc, path: string): Record<string, string> {
    const value = this.object(doc[leaf(path)], path)
    // Keys are read directly, not through leaf(): a Secret key may hold dots (tls.crt, .dockerconfigjson).
    for (const [key, item] of Object.entries(value))
      if (typeof item !== 'string' || item.trim() === '')
        this.fail(`${path}.${key}`, 'a non-empty string', item)
    return value as Record<string, string>
  }
}

/** The last segment of a dotted field path: `a.b[2]` → `2`, `a.b` → `b`. */
function leaf(path: string): string {
  const match = /(?:\[(\d+)\]|([^.[\]]+))$/.exec(path)
  return match?.[1] ?? match?.[2] ?? path
}
