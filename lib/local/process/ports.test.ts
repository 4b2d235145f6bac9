import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { LOOPBACK, pickPorts, portHolder } from './ports.ts'

describe('a port another process took', () => {
  it('portHolder names the process listening on it, from /proc', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const port = (server.address() as { port: number }).port
    try {
      expect(portHolder(port)).toMatch(new RegExp(`^pid ${process.pid} \\(.+\\)$`))
    } finally {
      server.close()
    }
  })

  it('pickPorts says which previous port is taken, and by whom, then picks another', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const port = (server.address() as { port: number }).port
    const said: string[] = []
    try {
      const picked = await pickPorts(['api'], { api: port }, (key, taken, holder) =>
        said.push(`${key} ${taken} ${holder}`),
      )
      expect(picked.api).not.toBe(port)
      expect(said).toEqual([expect.stringMatching(new RegExp(`^api ${port} pid ${process.pid} \\(.+\\)$`))])
    } finally {
      server.close()
    }
  })
})
