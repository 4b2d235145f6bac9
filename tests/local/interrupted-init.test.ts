import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../lib/core/wait.ts'
import { Processes } from '../../lib/local/process/processes.ts'
import { nodeVaultCall } from '../../lib/openbao/client.ts'
import { INIT_KEYS } from '../../lib/openbao/init-store.ts'
import { decrypt } from '../../lib/sops/index.ts'
import { makeWorkspace, type Workspace } from './workspace.ts'

/**
 * `create` killed (SIGKILL) while step 09 initialises OpenBao — after the runbook marked the storage
 * in the init file and asked OpenBao to initialise, before it saved the answer (root token,
 * recovery keys), which existed only in that process's memory. A fresh environment and a recreate
 * that restores a snapshot; killed as the mark is written and well into the initialisation. The
 * next `create` must repair it by itself: OpenBao working with the init file's admin token, the
 * snapshot's values back.
 */
let ws: Workspace
const CREATE = 'scripts/create.ts'
const DESTROY = 'scripts/destroy.ts'
const BY_HAND = { note: 'written by hand before the destroy' }
let lostAnswers = 0

const initFile = () => join(ws.dir, ws.env.openbao.initFile)
const snapshotFile = () => join(ws.dir, ws.env.openbao.snapshotFile)

function openbao() {
  const record = new Processes(join(ws.stateDir, 'local')).record('openbao')
  const port = record && Object.values(record.ports)[0]
  if (!port) throw new Error('the local OpenBao is not running')
  return nodeVaultCall(`http://127.0.0.1:${port}`)
}

async function adminToken(): Promise<string> {
  return (await decrypt(initFile(), { ageKeyFile: ws.keyFile }))[INIT_KEYS.adminToken] ?? ''
}

async function writeByHand(): Promise<void> {
  const response = await openbao()({
    method: 'POST',
    path: 'secret/data/manual/notes',
    body: { data: BY_HAND },
    token: await adminToken(),
  })
  expect(response.status).toBe(200)
}

async function readByHand(): Promise<unknown> {
  const response = await openbao()({
    method: 'GET',
    path: 'secret/data/manual/notes',
    token: await adminToken(),
  })
  return (response.body as { data?: { data?: unknown } } | undefined)?.data?.data
}

function expectOk(result: { code: number; output: string }, what: string): void {
  expect(result.code, `${what}:\n${result.output.slice(-3000)}`).toBe(0)
}

beforeAll(async () => {
  ws = await makeWorkspace()
  expectOk(await ws.cli(CREATE), 'the first create')
  await writeByHand()
}, 900_000)

afterAll(async () => {
  await ws?.dispose()
})

describe('create killed while OpenBao initialises: the next create repairs it', () => {
  it.each([
    { restore: false, killAt: 'mark' },
    { restore: false, killAt: 'initialised' },
    { restore: true, killAt: 'mark' },
    { restore: true, killAt: 'initialised' },
  ] as const)(
    'restoring a snapshot: $restore; killed when $killAt',
    async ({ restore, killAt }) => {
      expectOk(await ws.cli(DESTROY), 'destroy (the snapshot taken)')
      if (!restore) rmSync(snapshotFile(), { force: true })
      const mtime = () => (existsSync(initFile()) ? statSync(initFile()).mtimeMs : 0)
      const before = mtime()

      const killed = ws.spawnCli(CREATE)
      await waitFor(
        'step 09 to mark the storage in the init file',
        async () => mtime() !== before || killed.child.exitCode !== null,
        { timeoutMs: 300_000, intervalMs: 20 },
      )
      expect(
        killed.child.exitCode,
        `create ended before step 09 initialised:\n${killed.output().slice(-2000)}`,
      ).toBeNull()
      const marked = mtime()
      if (killAt === 'initialised')
        await waitFor(
          'OpenBao to say it is initialised',
          async () => {
            const status = await openbao()({ method: 'GET', path: 'sys/seal-status', token: '' })
            return (status.body as { initialized?: boolean }).initialized === true
          },
          { timeoutMs: 120_000, intervalMs: 20, notYet: () => true },
        )
      killed.child.kill('SIGKILL')
      await killed.done
      // Initialised, and the answer never saved: the case only the mark can repair.
      const after = await openbao()({ method: 'GET', path: 'sys/seal-status', token: '' })
      const answerLost = (after.body as { initialized?: boolean }).initialized === true && mtime() === marked
      if (answerLost) lostAnswers++

      const repaired = await ws.cli(CREATE)
      expectOk(repaired, 'the create after the kill')
      const startedOver = repaired.output.includes(
        'initialised by a run that stopped before saving the answer',
      )
      expect(startedOver, repaired.output.slice(-3000)).toBe(answerLost)
      const status = await openbao()({
        method: 'GET',
        path: 'auth/token/lookup-self',
        token: await adminToken(),
      })
      expect(status.status, "the init file's admin token works").toBe(200)
      if (restore) expect(await readByHand()).toEqual(BY_HAND)
      else await writeByHand()
      // A second create after the repair changes nothing in OpenBao.
      const again = await ws.cli(CREATE)
      expectOk(again, 'the create after the repair')
      expect(again.output).toMatch(/0 write requests to OpenBao/)
    },
    900_000,
  )

  it('the kill that loses the answer happened at least once above (the test is not vacuous)', () => {
    expect(lostAnswers).toBeGreaterThan(0)
  })
})
