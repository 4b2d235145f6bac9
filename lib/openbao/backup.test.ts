import { describe, expect, it } from 'vitest'
import { loadConfig } from '../config.ts'
import type { Context } from '../context.ts'
import { BootstrapError } from '../errors.ts'
import { Logger, memorySink } from '../log.ts'
import { snapshotBeforeDestroy } from './backup.ts'

/** A destroy's context whose OpenBao cannot be reached (a kind cluster whose OpenBao pod is gone). */
function destroying(options: { force?: boolean; hasCluster?: boolean } = {}) {
  const sink = memorySink()
  const ctx = {
    env: loadConfig('dev'),
    flags: { dryRun: false, force: options.force ?? false, rotate: [] },
    log: new Logger({ sink }),
    provider: {
      hasCluster: async () => options.hasCluster ?? true,
      openbao: async () => {
        throw new BootstrapError('no Running OpenBao pod in namespace openbao')
      },
    },
  } as unknown as Context
  return { ctx, lines: sink.lines }
}

describe('snapshotBeforeDestroy', () => {
  it('no snapshot can be taken: the destroy stops, saying why and what --force would lose', async () => {
    const { ctx } = destroying()
    const error = (await snapshotBeforeDestroy(ctx).catch((e: unknown) => e)) as BootstrapError
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message).toBe(
      'no OpenBao snapshot could be taken before destroying: no Running OpenBao pod in namespace openbao',
    )
    expect(error.hint).toMatch(
      /just backup dev.*--force destroys without one, and what was written to OpenBao since .* is lost/,
    )
  })

  it('with --force the destroy goes on, with a warning', async () => {
    const { ctx, lines } = destroying({ force: true })
    await snapshotBeforeDestroy(ctx)
    expect(lines.join('\n')).toMatch(
      /no OpenBao snapshot \(no Running OpenBao pod in namespace openbao\): destroying anyway, --force/,
    )
  })

  it('no cluster at all: nothing to keep, nothing asked', async () => {
    const { ctx, lines } = destroying({ hasCluster: false })
    await snapshotBeforeDestroy(ctx)
    expect(lines.join('\n')).toMatch(/no cluster: no OpenBao to keep/)
  })
})
