import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { memorySink } from '../../../tests/helpers/memory-sink.ts'
import { waitFor } from '../../core/wait.ts'
import { Logger } from '../../runner/log.ts'
import { type Component, ensureComponent } from './component.ts'
import { freePort, LOOPBACK, portIsFree } from './ports.ts'
import { Processes } from './processes.ts'

/**
 * ensureComponent with real processes on loopback: an HTTP server that says which configuration
 * it runs, kept on one fixed port across restarts, as the repo-server is when its git
 * configuration changes.
 */
const stateDir = mkdtempSync(join(tmpdir(), 'pb-component-'))
const procs = new Processes(stateDir)
afterAll(async () => {
  await procs.stop('echo', 5_000)
  rmSync(stateDir, { recursive: true, force: true })
})

function echo(port: number, says: string): Component<'http'> {
  const script = `require('node:http').createServer((_, res) => res.end(${JSON.stringify(says)})).listen(${port}, '${LOOPBACK}')`
  return {
    name: 'echo',
    portKeys: ['http'],
    fixedPorts: { http: port },
    spec: () => ({ command: process.execPath, args: ['-e', script] }),
    ready: async (ports) => (await answer(ports.http)) === says,
    readyTimeoutMs: 10_000,
    stopTimeoutMs: 5_000,
  }
}

async function answer(port: number): Promise<string | undefined> {
  try {
    return await (await fetch(`http://${LOOPBACK}:${port}/`)).text()
  } catch {
    return undefined
  }
}

describe('ensureComponent', () => {
  const log = new Logger({ sink: memorySink() })

  it('starts it, adopts it unchanged, and restarts it on its fixed port when its configuration changes', async () => {
    const port = await freePort()
    expect(await ensureComponent(procs, echo(port, 'one'), log)).toEqual({
      ports: { http: port },
      outcome: 'started',
    })
    const pid = procs.pid('echo')
    expect(await ensureComponent(procs, echo(port, 'one'), log)).toEqual({
      ports: { http: port },
      outcome: 'adopted',
    })
    expect(procs.pid('echo')).toBe(pid)

    // The port the stopped process listened on is bound again at once: the restart waits for the
    // kernel to release it instead of finding it taken.
    for (const says of ['two', 'three']) {
      expect(await ensureComponent(procs, echo(port, says), log)).toEqual({
        ports: { http: port },
        outcome: 'restarted',
      })
      expect(await answer(port)).toBe(says)
    }
    expect(procs.pid('echo')).not.toBe(pid)
  })

  it('refuses to start on a fixed port another process took while it was down, naming the port', async () => {
    const port = await freePort()
    await ensureComponent(procs, echo(port, 'one'), log)
    await procs.stop('echo', 5_000)
    // The stopped server's socket can outlive its process for a moment (what a restart waits out).
    await waitFor('its port released', () => portIsFree(port), { timeoutMs: 10_000, intervalMs: 50 })
    const squatter: Server = createServer()
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject)
      squatter.listen(port, LOOPBACK, resolve)
    })
    try {
      await expect(ensureComponent(procs, echo(port, 'one'), log)).rejects.toThrow(
        new RegExp(`echo: port ${port} on 127.0.0.1 is taken by`),
      )
      expect(procs.isRunning('echo')).toBe(false)
    } finally {
      await new Promise((resolve) => squatter.close(resolve))
    }
  })
})
