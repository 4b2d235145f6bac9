import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeWorkspace, type Workspace } from './workspace.ts'

/**
 * `--dry-run` on a fresh clone of a new machine: it reads, says what it would make, and writes
 * nothing — no personal key, no bootstrap file, no overlay Secret, no state folder, no served
 * repository.
 */
let ws: Workspace

beforeAll(async () => {
  ws = await makeWorkspace({ fresh: true })
}, 120_000)
afterAll(async () => ws?.dispose())

/** Every file under a folder with its content (links not followed: node_modules is one). */
function files(dir: string): Map<string, string> {
  const found = new Map<string, string>()
  if (!existsSync(dir)) return found
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, rel)
    const stat = lstatSync(path)
    if (stat.isFile()) found.set(rel, readFileSync(path, 'utf8'))
  }
  return found
}

describe('create --dry-run on a fresh machine', () => {
  it('says what it would make and writes nothing: checkout, key folder and state folder as they were', async () => {
    const checkout = files(ws.dir)
    const result = await ws.cli('scripts/create.ts', ['--dry-run'])
    expect(result.code, result.output).toBe(0)
    expect(result.output).toMatch(
      /no cluster yet: step 02 and the steps after it would create everything they own/,
    )
    expect(result.output).toMatch(/would make your personal age key at /)
    expect(result.output).toMatch(/would generate environments\/local\/secrets\.sops\.yaml with 5 fields/)
    expect(result.output).toMatch(
      /would generate gitops\/overlays\/local\/secrets\/demo-credentials\.secret\.yaml/,
    )
    expect(files(ws.dir)).toEqual(checkout)
    expect(existsSync(ws.keyFile)).toBe(false)
    expect(existsSync(dirname(ws.keyFile))).toBe(false)
    expect(existsSync(ws.stateDir)).toBe(false)
  })
})
