import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaSync } from 'execa'
import { describe, expect, it } from 'vitest'
import {
  type Call,
  executable,
  fakeDeps,
  fetched,
  lines,
  ok,
  useToolsSandbox,
} from '../../../tests/helpers/tools-sandbox.ts'
import { versions } from '../../core/versions.ts'
import { ensureTools } from '../install.ts'
import { recipeOf } from '../recipes.ts'
import { checksumFor } from './download.ts'

useToolsSandbox()

const linuxAmd64 = (tool: string) =>
  recipeOf({ name: tool, version: '', binaries: [] }).download?.('linux', 'amd64')

/** A .tar.gz holding `members` (path in the archive → file body), made with the real tar. */
function tarball(members: Record<string, string>): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'pb-tarball-'))
  try {
    for (const [member, body] of Object.entries(members)) executable(join(dir, 'in', member), body)
    execaSync('tar', ['-czf', join(dir, 'out.tar.gz'), '-C', join(dir, 'in'), ...Object.keys(members)])
    return readFileSync(join(dir, 'out.tar.gz'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Recorded answers of a release host: URL → status and body; anything else is a 404. */
function releaseHost(answers: Record<string, { status: number; body?: Buffer | string }>) {
  return async (url: string, init?: RequestInit) => {
    fetched.push(`${init?.method ?? 'GET'} ${url}`)
    const answer = answers[url] ?? { status: 404 }
    return new Response(init?.method === 'HEAD' ? null : (answer.body ?? null), { status: answer.status })
  }
}

/** The fake runner, plus the real tar (the download unpacks with it) and the tools' version answers. */
function withTar(versionOf: Record<string, string>) {
  return fakeDeps((call: Call, options) => {
    if (call.command === 'tar') {
      const result = execaSync('tar', call.args, { cwd: options.cwd, reject: false })
      return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) }
    }
    const binary = call.command.split('/').pop() ?? ''
    return versionOf[binary] ? ok(`${versionOf[binary]}\n`) : undefined
  })
}

describe('release downloads, on recorded responses', () => {
  it('asks for the OpenBao asset name its releases use since 2.6.0', () => {
    const [archive] = linuxAmd64('openbao') ?? []
    const v = versions.openbao
    expect(archive?.url).toBe(
      `https://github.com/openbao/openbao/releases/download/v${v}/openbao_${v}_linux_amd64.tar.gz`,
    )
    expect(archive?.sha256Url).toBe(
      `https://github.com/openbao/openbao/releases/download/v${v}/checksums.txt`,
    )
    expect(archive?.members).toEqual({ bao: 'bao' })
  })

  it('installs OpenBao from that asset, checksum verified', async () => {
    const [archive] = linuxAmd64('openbao') ?? []
    const bytes = tarball({ bao: '#!/bin/sh\necho "OpenBao v2.7.2"\n' })
    const hash = createHash('sha256').update(bytes).digest('hex')
    const name = String(archive?.url.split('/').pop())
    const { deps } = withTar({ bao: `OpenBao v${versions.openbao}` })
    deps.fetch = releaseHost({
      [String(archive?.url)]: { status: 200, body: bytes },
      [String(archive?.sha256Url)]: {
        status: 200,
        body: `${'0'.repeat(64)}  other.tar.gz\n${hash}  ${name}\n`,
      },
    })
    const [result] = await ensureTools(['openbao'], { deps })
    expect(result).toMatchObject({ name: 'openbao', action: 'installed', source: 'download' })
  })

  it('a 404 fails that URL only: the next tool on the same host is still downloaded', async () => {
    const [sops] = linuxAmd64('sops') ?? []
    const [actionlint] = linuxAmd64('actionlint') ?? []
    const bytes = tarball({ actionlint: '#!/bin/sh\necho 1.7.12\n' })
    const hash = createHash('sha256').update(bytes).digest('hex')
    const { deps } = withTar({ actionlint: versions.actionlint.replace(/^v/, '') })
    deps.fetch = releaseHost({
      // sops: no answer recorded, so a 404, as for a renamed asset.
      [String(actionlint?.url)]: { status: 200, body: bytes },
      [String(actionlint?.sha256Url)]: {
        status: 200,
        body: `${hash}  actionlint_${versions.actionlint.replace(/^v/, '')}_linux_amd64.tar.gz\n`,
      },
    })
    const results = await ensureTools(['sops', 'actionlint'], { deps })
    expect(results.map((r) => [r.name, r.source])).toEqual([
      ['sops', 'go-build'],
      ['actionlint', 'download'],
    ])
    expect(fetched).toContain(`HEAD ${actionlint?.url}`)
    expect(lines.join('\n')).toContain(`${sops?.url} answered HTTP 404, building instead`)
  })
})

describe('helpers', () => {
  it('reads both checksum file shapes', () => {
    const hash = 'a'.repeat(64)
    expect(checksumFor(`${hash}\n`, 'kubectl')).toBe(hash)
    expect(
      checksumFor(`${'b'.repeat(64)}  other.tar.gz\n${hash} *sops-v3.linux.amd64\n`, 'sops-v3.linux.amd64'),
    ).toBe(hash)
    expect(checksumFor(`${hash}  other\n`, 'mine')).toBeUndefined()
  })
})
