import { isMap, isScalar, isSeq, type Node, parseDocument, stringify } from 'yaml'
import { BootstrapError } from '../core/errors.ts'

/**
 * Edits of an environment's config.yaml made in its text, so everything else — comments, blank
 * lines, `[a, b]` and `{ k: v }` as the person wrote them — stays byte for byte: an entry is added
 * as new lines after the last one of its block, and removed as the lines it spans. The result is
 * parsed again and must hold exactly the change asked for.
 */

type Path = (string | number)[]

export function addMapEntry(
  text: string,
  file: string,
  path: Path,
  key: string,
  value: Record<string, string>,
): string {
  const map = blockNode(text, file, path, 'map')
  const items = isMap(map) ? map.items : []
  const last = items.at(-1)
  const indent = columnOf(text, (items[0]?.key as Node | undefined)?.range?.[0] ?? 0)
  if (!last) throw unsupported(file, path)
  const at = lineEnd(text, (last.value as Node | undefined)?.range?.[1] ?? (last.key as Node).range?.[1] ?? 0)
  const pad = ' '.repeat(indent)
  const lines = [
    `${pad}${scalar(key)}:`,
    ...Object.entries(value).map(([k, v]) => `${pad}  ${scalar(k)}: ${scalar(v)}`),
  ]
  return checked(insert(text, at, lines), file, (doc) => doc.getIn([...path, key]), value)
}

export function removeMapEntry(text: string, file: string, path: Path, key: string): string {
  const map = blockNode(text, file, path, 'map')
  const pair = isMap(map) ? map.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined
  if (!pair) return text
  const start = lineStart(text, (pair.key as Node).range?.[0] ?? 0)
  const end = lineEnd(
    text,
    (pair.value as Node | undefined)?.range?.[1] ?? (pair.key as Node).range?.[1] ?? 0,
  )
  return checked(text.slice(0, start) + text.slice(end), file, (doc) => doc.getIn([...path, key]), undefined)
}

export function addSeqItem(text: string, file: string, path: Path, item: string): string {
  const seq = blockNode(text, file, path, 'seq')
  const items = isSeq(seq) ? (seq.items as Node[]) : []
  const first = items[0]
  const last = items.at(-1)
  if (!first || !last) throw unsupported(file, path)
  const indent = leadingSpaces(text, first.range?.[0] ?? 0)
  const at = lineEnd(text, last.range?.[1] ?? 0)
  const expected = [...items.map((node) => (node as { value?: unknown }).value), item]
  return checked(
    insert(text, at, [`${' '.repeat(indent)}- ${scalar(item)}`]),
    file,
    (doc) => doc.getIn(path),
    expected,
  )
}

export function removeSeqItem(text: string, file: string, path: Path, item: string): string {
  const seq = blockNode(text, file, path, 'seq')
  const items = isSeq(seq) ? (seq.items as Node[]) : []
  const found = items.find((node) => isScalar(node) && node.value === item)
  if (!found) return text
  const start = lineStart(text, found.range?.[0] ?? 0)
  const end = lineEnd(text, found.range?.[1] ?? 0)
  const expected = items.filter((node) => node !== found).map((node) => (node as { value?: unknown }).value)
  return checked(text.slice(0, start) + text.slice(end), file, (doc) => doc.getIn(path), expected)
}

function blockNode(text: string, file: string, path: Path, kind: 'map' | 'seq'): Node {
  const node = parseDocument(text).getIn(path, true) as Node | undefined
  const ok = kind === 'map' ? isMap(node) : isSeq(node)
  if (!ok || (node as { flow?: boolean }).flow) throw unsupported(file, path)
  return node as Node
}

const kindName = (path: Path) => (path.at(-1) === 'fields' ? 'list' : 'map')

function unsupported(file: string, path: Path): BootstrapError {
  return new BootstrapError(
    `${file}: ${path.join('.')} is not a block ${kindName(path)} with an entry to add beside`,
    {
      hint: `write ${path.join('.')} as a block (one entry per line), as environments/*/config.yaml of this repository do, then run again`,
      exitCode: 2,
    },
  )
}

/** The edited text, parsed: the value at the path must be what was asked, or nothing is written. */
function checked(
  text: string,
  file: string,
  at: (doc: ReturnType<typeof parseDocument>) => unknown,
  expected: unknown,
): string {
  const doc = parseDocument(text)
  const found = at(doc)
  const plain =
    found && typeof found === 'object' && 'toJSON' in found
      ? (found as { toJSON(): unknown }).toJSON()
      : found
  if (doc.errors.length || JSON.stringify(plain) !== JSON.stringify(expected))
    throw new BootstrapError(
      `${file}: editing it in place did not give the YAML expected; nothing was written`,
      {
        hint: 'make the change by hand, or tell the maintainers which layout this was',
      },
    )
  return text
}

const scalar = (value: string) => stringify(value).trimEnd()

function insert(text: string, at: number, lines: string[]): string {
  const before = text.slice(0, at)
  const joined = `${before.endsWith('\n') || before === '' ? '' : '\n'}${lines.join('\n')}\n`
  return before + joined + text.slice(at)
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

/** Offset just past the newline ending the line that holds `offset - 1` (the end of a value). */
function lineEnd(text: string, offset: number): number {
  const newline = text.indexOf('\n', Math.max(0, offset - 1))
  return newline < 0 ? text.length : newline + 1
}

function columnOf(text: string, offset: number): number {
  return offset - lineStart(text, offset)
}

function leadingSpaces(text: string, offset: number): number {
  const start = lineStart(text, offset)
  return /^ */.exec(text.slice(start))?.[0].length ?? 0
}
