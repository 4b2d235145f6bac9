import { describe, expect, it } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { BootstrapError } from '../core/errors.ts'
import { existingProvider } from '../providers/existing.ts'
import { loadConfig } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { Logger } from '../runner/log.ts'
import { snapshotBeforeDestroy } from './backup.ts'

/** A destroy's context whose OpenBao cannot be reached (a kind cluster whose OpenBao pod is gone). */
function destroying(options: { noSnapshot?: boolean; hasCluster?: boolean } = {}) {
  const sink = memorySink()
  const ctx = {
    env: loadConfig('dev'),
    flags: { dryRun: false, force: false, noSnapshot: options.noSnapshot ?? false, rotate: [] },
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
  it('no snapshot can be taken: the destroy stops, saying why and what --no-snapshot would lose', async () => {
    const { ctx } = destroying()
    const error = (await snapshotBeforeDestroy(ctx).catch((e: unknown) => e)) as BootstrapError
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error.message).toBe(
      'no OpenBao snapshot could be taken before destroying: no Running OpenBao pod in namespace openbao',
    )
    expect(error.hint).toMatch(
      /just backup dev.*`just destroy dev --no-snapshot` destroys without one, and what was written to OpenBao since .* is lost/,
    )
  })

  it('with --no-snapshot the destroy goes on, with a warning saying what is lost; --force alone does not skip it', async () => {
    const { ctx, lines } = destroying({ noSnapshot: true })
    await snapshotBeforeDestroy(ctx)
    expect(lines.join('\n')).toMatch(
      /no OpenBao snapshot \(no Running OpenBao pod in namespace openbao\): destroying anyway \(--no-snapshot\); what was written to OpenBao since its setup is lost/,
    )
    const forced = destroying()
    forced.ctx.flags.force = true
    await expect(snapshotBeforeDestroy(forced.ctx)).rejects.toThrow(/no OpenBao snapshot could be taken/)
  })

  it('an existing cluster refuses first, before any snapshot is taken or written, saying what --force removes', async () => {
    const { ctx } = destroying()
    let asked = false
    ctx.provider = {
      ...ctx.provider,
      refuseDestroy: existingProvider.refuseDestroy,
      openbao: async () => {
        asked = true
        throw new Error('not reached')
      },
    } as Context['provider']
    ctx.env = loadConfig('staging')
    const error = (await snapshotBeforeDestroy(ctx).catch((e: unknown) => e)) as BootstrapError
    expect(error.message).toMatch(
      /runs on an existing cluster \(context platform-staging\): destroy does not touch it/,
    )
    expect(error.hint).toMatch(
      /--force` removes from that cluster everything create made on it and everything Argo CD deployed from it: every Application of the root App of Apps .*Argo CD's Helm release, the namespaces create made/,
    )
    expect(asked).toBe(false)
  })

  it('no cluster at all: nothing to keep, nothing asked', async () => {
    const { ctx, lines } = destroying({ hasCluster: false })
    await snapshotBeforeDestroy(ctx)
    expect(lines.join('\n')).toMatch(/no cluster: no OpenBao to keep/)
  })
})
