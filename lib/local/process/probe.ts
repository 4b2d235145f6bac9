import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { LOOPBACK } from './ports.ts'

/** Health probes of the local processes: plain TCP, and HTTP(S) GETs with an optional client certificate. */

export interface TlsFiles {
  ca: string
  cert?: string
  key?: string
}

export interface HttpAnswer {
  status: number
  body: string
}

/** GETs `url`; resolves with the status and body, rejects on connection errors or after `timeoutMs`. */
export function httpGet(
  url: string,
  options: { tls?: TlsFiles; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const { tls, timeoutMs = 2000 } = options
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const tlsOptions = tls
      ? {
          ca: readFileSync(tls.ca),
          cert: tls.cert ? readFileSync(tls.cert) : undefined,
          key: tls.key ? readFileSync(tls.key) : undefined,
        }
      : {}
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { method: 'GET', timeout: timeoutMs, agent: false, ...tlsOptions },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          if (body.length < 65_536) body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
        response.on('error', reject)
      },
    )
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)))
    request.on('error', reject)
    request.end()
  })
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return accepts({ host: LOOPBACK, port }, timeoutMs)
}

/** Whether something accepts connections on the unix socket `path`. */
export function unixSocketOpen(path: string, timeoutMs = 1000): Promise<boolean> {
  return accepts({ path }, timeoutMs)
}

function accepts(
  target: { host: string; port: number } | { path: string },
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target)
    const done = (open: boolean) => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
