import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
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
 * keeps its address across restarts), fresh ones otherwise. Never two equal ports. A previous
 * port another process has taken meanwhile is said (`onTaken`), naming that process.
 */
export async function pickPorts<K extends string>(
  keys: readonly K[],
  previous: Partial<Record<string, number>> = {},
  onTaken?: (key: K, port: number, holder: string) => void,
): Promise<Record<K, number>> {
  const picked = {} as Record<K, number>
  const taken = new Set<number>()
  for (const key of keys) {
    const before = previous[key]
    let port = 0
    if (before !== undefined && !taken.has(before)) {
      if (await portIsFree(before)) port = before
      else onTaken?.(key, before, portHolder(before))
    }
    while (!port || taken.has(port)) port = await freePort()
    taken.add(port)
    picked[key] = port
  }
  return picked
}

/**
 * Which process listens on TCP `port` (any local address), from /proc: "pid N (name)" — or
 * what can be said when it cannot be seen (another user's process, to a run that is not root).
 */
export function portHolder(port: number): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // local_address is ADDR:PORT in hex; st 0A is LISTEN; the inode is the tenth field.
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9])
    }
  }
  if (inodes.size === 0) return 'a process this run cannot see'
  let pids: string[] = []
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))
  } catch {
    return 'a process this run cannot see'
  }
  for (const pid of pids) {
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let target = ''
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode && inodes.has(inode)) {
        let name = '?'
        try {
          name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
        } catch {}
        return `pid ${pid} (${name})`
      }
    }
  }
  return "another user's process (run `ss -ltnp` as root to see which)"
}
