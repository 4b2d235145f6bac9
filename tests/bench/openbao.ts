import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { errorMessage } from '../../lib/core/errors.ts'
import { redactor } from '../../lib/core/redact.ts'
import { loadKubeConfig } from '../../lib/kube/client.ts'
import { localLayout } from '../../lib/local/layout.ts'
import { ensureOpenBao } from '../../lib/local/openbao.ts'
import { pkiPaths } from '../../lib/local/pki.ts'
import type { OpenBaoEndpoint } from '../../lib/openbao/endpoint.ts'
import { openbaoSetup } from '../../lib/openbao/setup/index.ts'
import { localProvider } from '../../lib/providers/local.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'
import type { Context } from '../../lib/runner/context.ts'
import type { Workspace } from '../local/workspace.ts'
import { benchContext } from './api.ts'
import { ensurePlatform, FAILURES_TOLERATED } from './create.ts'
import {
  type Bench,
  notes,
  observe,
  quiet,
  record,
  say,
  stopAndWipe,
  tempDir,
  trackStack,
} from './recorder.ts'
import { stats } from './stats.ts'

/** The openbao and backup phases: openbao-setup cold and as a no-op; backup and restore on the running platform. */

export async function phaseOpenBao(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  const env = b.env as EnvConfig
  const values = b.values as Record<string, string>
  await ensurePlatform(b)
  const layout = localLayout(join(ws.stateDir, 'local'))
  const server = loadKubeConfig(layout.adminKubeconfig).getCurrentCluster()?.server ?? ''
  const caCert = readFileSync(pkiPaths(layout.pki).ca.cert, 'utf8')
  const keys = tempDir('pb-bench-openbao-keys-')

  /** A fresh OpenBao (new state dir, new unseal key) whose kubernetes auth reviews against the workspace's apiserver. */
  const freshOpenBao = async (i: number) => {
    const stateDir = tempDir('pb-bench-openbao-')
    trackStack(stateDir)
    const unsealKeyFile = join(keys, `unseal-${i}.key`)
    const key = randomBytes(32).toString('base64')
    redactor.add(key)
    writeFileSync(unsealKeyFile, key, { mode: 0o600 }) // no newline: the static seal reads it byte for byte
    const bao = await ensureOpenBao({ stateDir, unsealKeyFile, log: quiet })
    const endpoint: OpenBaoEndpoint = {
      address: bao.address,
      kubernetesHost: server,
      kubernetesCaCert: caCert,
      close: async () => {},
    }
    // Its own init file, and no snapshot: the destroys of the create phase left one, and a cold
    // setup restoring it (into an OpenBao with another seal key) is not what this phase measures.
    const runEnv = {
      ...env,
      openbao: {
        ...env.openbao,
        initFile: join(keys, `openbao-${i}.sops.yaml`),
        snapshotFile: join(keys, `no-snapshot-${i}.age`),
      },
    }
    return { stateDir, endpoint, runEnv }
  }
  const setupOnce = async (runEnv: EnvConfig, endpoint: OpenBaoEndpoint) => {
    const ctx: Context = {
      ...benchContext(runEnv, values),
      provider: { ...localProvider, openbao: async () => endpoint },
    }
    const started = performance.now()
    const report = await openbaoSetup(ctx)
    const ms = performance.now() - started
    const kube = await ctx.kube()
    return {
      ms,
      writes: report.writes,
      initFileWrites: report.initFileWrites,
      kubeWrites: kube.requests.writes,
    }
  }

  const cold: Awaited<ReturnType<typeof setupOnce>>[] = []
  let last: Awaited<ReturnType<typeof freshOpenBao>> | undefined
  const failures: string[] = []
  let attempt = 0
  try {
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`openbao: a fresh OpenBao, then openbao-setup cold, run ${i}/${b.runs}`)
      if (last) await stopAndWipe(last.stateDir)
      attempt++
      last = await freshOpenBao(attempt)
      try {
        cold.push(await setupOnce(last.runEnv, last.endpoint))
      } catch (error) {
        if (failures.length >= FAILURES_TOLERATED) throw error
        const reason = redactor.mask(errorMessage(error)).split('\n')[0] ?? ''
        failures.push(reason)
        say(`  run ${i} FAILED (${reason}): not a sample; reported, and run again with a fresh OpenBao`)
        i--
      }
    }
    for (const [n, reason] of failures.entries()) {
      notes.push(`openbao: failed cold run ${n + 1} of ${failures.length}, not counted, run again: ${reason}`)
    }
    const noop: Awaited<ReturnType<typeof setupOnce>>[] = []
    for (let i = 1; i <= b.runs; i++) {
      observe() // outside the clock
      say(`openbao: openbao-setup again on the last one (no-op), run ${i}/${b.runs}`)
      const { runEnv, endpoint } = last as NonNullable<typeof last>
      noop.push(await setupOnce(runEnv, endpoint))
    }
    record(
      'openbao.cold',
      '(5) openbao-setup cold: init, KV, kubernetes auth, policies, roles, secrets',
      'ms',
      cold.map((r) => r.ms),
      {
        note: 'a fresh OpenBao (state dir, unseal key, init file) per run, started before the clock',
      },
    )
    record(
      'openbao.cold.writes',
      '(5) openbao-setup cold: write requests to OpenBao',
      'count',
      cold.map((r) => r.writes),
      {
        note: `init file written ${stats(cold.map((r) => r.initFileWrites)).median}× per run`,
      },
    )
    record(
      'openbao.noop',
      '(5) openbao-setup as a no-op',
      'ms',
      noop.map((r) => r.ms),
    )
    record(
      'openbao.noop.writes',
      '(5) openbao-setup no-op: writes (OpenBao + init file + API)',
      'count',
      noop.map((r) => r.writes + r.initFileWrites + r.kubeWrites),
      {
        target: { below: 1, on: 'max' },
      },
    )
  } finally {
    if (last) await stopAndWipe(last.stateDir)
  }
}

/**
 * What keeping OpenBao's data costs: `just backup` and `just restore --force` on the running
 * platform, spawn to exit; and the snapshot step each destroy of the create phase took.
 */
export async function phaseBackup(b: Bench): Promise<void> {
  const ws = b.ws as Workspace
  await ensurePlatform(b)
  const backup: number[] = []
  const restore: number[] = []
  for (let i = 1; i <= b.runs; i++) {
    observe() // outside the clock
    say(`backup: just backup local, then just restore local --force, run ${i}/${b.runs}`)
    for (const [samples, args] of [
      [backup, ['scripts/backup.ts']],
      [restore, ['scripts/restore.ts', '--force']],
    ] as const) {
      const started = performance.now()
      const result = await ws.cli(args[0], args.slice(1))
      if (result.code !== 0)
        throw new Error(
          `${args.join(' ')} exited ${result.code}:\n${redactor.mask(result.output.slice(-2000))}`,
        )
      samples.push(performance.now() - started)
    }
  }
  record('openbao.backup', 'just backup local: OpenBao raft snapshot, encrypted, on disk', 'ms', backup, {
    note: 'spawn to exit; destroy takes the same snapshot first',
  })
  record(
    'openbao.restore',
    'just restore local --force: the snapshot back, then openbao-setup',
    'ms',
    restore,
    {
      note: 'spawn to exit; a create after destroy restores the same way in step 09',
    },
  )
  if (b.destroySnapshot.length)
    record(
      'destroy.snapshot',
      'destroy local: its snapshot step (what keeping OpenBao adds)',
      'ms',
      b.destroySnapshot,
    )
}
