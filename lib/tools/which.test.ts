import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findOnPath, isExecutable, searchPath } from './which.ts'

let root: string
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'which-test-'))
  for (const dir of ['a', 'b', 'cache/kind/v1']) mkdirSync(join(root, dir), { recursive: true })
  writeFileSync(join(root, 'b', 'tool'), '#!/bin/sh\n')
  chmodSync(join(root, 'b', 'tool'), 0o755)
  writeFileSync(join(root, 'a', 'tool'), 'not executable')
  symlinkSync(join(root, 'nowhere'), join(root, 'a', 'dangling'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('which', () => {
  it('finds the first executable on the folders given, skipping files that are not', () => {
    const path = [join(root, 'a'), join(root, 'b')].join(delimiter)
    expect(findOnPath('tool', path)).toBe(join(root, 'b', 'tool'))
    expect(findOnPath('dangling', path)).toBeUndefined()
  })

  it('searches nothing for an empty PATH or an empty entry (not process.env.PATH, not the current folder)', () => {
    expect(findOnPath('sh', '')).toBeUndefined()
    const cwd = process.cwd()
    process.chdir(join(root, 'b'))
    try {
      expect(findOnPath('tool', `${delimiter}${join(root, 'a')}`)).toBeUndefined()
    } finally {
      process.chdir(cwd)
    }
  })

  it('tells an executable file from a plain one and a dangling symlink', () => {
    expect(isExecutable(join(root, 'b', 'tool'))).toBe(true)
    expect(isExecutable(join(root, 'a', 'tool'))).toBe(false)
    expect(isExecutable(join(root, 'a', 'dangling'))).toBe(false)
    expect(isExecutable(join(root, 'b'))).toBe(false)
  })

  it('leaves the tools cache and relative folders out of the PATH searched', () => {
    const env = {
      PATH: [join(root, 'cache/kind/v1'), 'relative', join(root, 'b')].join(delimiter),
      PLATFORM_TOOLS_CACHE: join(root, 'cache'),
    }
    expect(searchPath({ env })).toBe(join(root, 'b'))
  })
})
