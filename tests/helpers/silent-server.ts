import { createServer, type Socket } from 'node:net'
import { LOOPBACK } from '../../lib/local/process/ports.ts'

/** A TCP server on loopback that accepts every connection and never sends a byte: a hung Vault or OpenBao. */
export interface SilentServer {
  port: number
  /** Cuts every connection it holds (the clients see them reset), and keeps listening. */
  drop(): void
  /** Cuts them and stops listening. */
  close(): Promise<void>
}

export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: LOOPBACK, port: 0 }, resolve)
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const drop = () => {
    for (const socket of sockets) socket.destroy()
  }
  return {
    port,
    drop,
    close: async () => {
      drop()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
