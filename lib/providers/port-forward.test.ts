import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { loopbackServer } from './port-forward.ts'

describe('loopbackServer', () => {
  it('close() ends a connection the client keeps open (keep-alive), instead of waiting for it', async () => {
    const server = await loopbackServer((socket) => socket.write('hello\n'))
    const client = connect(server.port, '127.0.0.1')
    await new Promise<void>((resolve) => client.once('data', () => resolve()))
    const ended = new Promise<void>((resolve) => client.once('close', () => resolve()))
    // Without ending the open socket, server.close() would wait as long as the client stays.
    const closed = await Promise.race([
      server.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 2 s'), 2000)),
    ])
    expect(closed).toBe('closed')
    await ended
    expect(client.destroyed).toBe(true)
  })
})
