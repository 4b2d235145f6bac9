import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../lib/core/paths.ts'

const bin = mkdtempSync(join(tmpdir(), 'pb-doctor-path-'))
afterAll(() => rmSync(bin, { recursive: true, force: true }))

describe('just doctor on a machine without the installer prerequisites', () => {
  it('names each missing prerequisite with the command that installs it', async () => {
    // A PATH with bun alone: no go, python3, git, openssl, apt-get or debootstrap.
    symlinkSync(join(repoRoot, 'node_modules', '.bin', 'bun'), join(bin, 'bun'))
    const result = await execa(join(bin, 'bun'), ['scripts/doctor.ts'], {
      cwd: repoRoot,
      env: { ...process.env, PATH: bin },
      reject: false,
      all: true,
    })
    const row = (command: string) =>
      String(result.all)
        .split('\n')
        .find((line) => line.startsWith(`XX  ${command} `) || line.startsWith(`--  ${command} `))
    expect(row('go')).toMatch(/missing .*install with Go ≥ 1.26 from https:\/\/go.dev\/dl/)
    expect(row('python3')).toMatch(/install with `apt-get install -y python3-pip`/)
    expect(row('git')).toMatch(/install with `apt-get install -y git`/)
    expect(row('openssl')).toMatch(/install with `apt-get install -y openssl`/)
    expect(row('apt-get')).toMatch(/a Debian or Ubuntu machine/)
    expect(row('debootstrap')).toMatch(/^-- .*install with `apt-get install -y debootstrap` \(optional\)/)
  })
})
