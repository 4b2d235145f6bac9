import { createServer } from 'node:net'

/** Everything the local stack serves binds this address. */
export const LOOPBACK = '127.0.0.1'

/** A TCP port on 127.0.0.1 the kernel says is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

/** Whether `port` on 127.0.0.1 can be bound (nothing listens there). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/**
 * Ports for one process: the ones it had before when they are still free (so the cluster
 * keeps its address across restarts), fresh ones otherwise. Never two equal ports.
 */
export async function pickPorts<K extends string>(
  keys: readonly K[],
  previous: Partial<Record<string, number>> = {},
): Promise<Record<K, number>> {
  const picked = {} as Record<K, number>
  const taken = new Set<number>()
  for (const key of keys) {
    const before = previous[key]
    let port = before !== undefined && !taken.has(before) && (await portIsFree(before)) ? before : 0
    while (!port || taken.has(port)) port = await freePort()
    taken.add(port)
    picked[key] = port
  }
  return picked
}
