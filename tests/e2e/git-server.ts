import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { execa } from 'execa'

/**
 * A git server that really checks credentials: git's own smart-HTTP backend (`git http-backend`,
 * CGI) behind HTTP basic auth, serving the repositories in one folder. The kind tier's "existing"
 * round points Argo CD at it, so the repository Secrets step 04 makes are proven against a server
 * that refuses anything else. Every request is recorded (who, what, answered how), never a password.
 */
export interface GitServer {
  /** http://host:port, to which a repository's folder name is appended. */
  url: string
  requests: GitRequest[]
  close(): Promise<void>
}

export interface GitRequest {
  path: string
  /** The user the request authenticated as; undefined when it was refused. */
  user?: string
  status: number
}

export async function startGitServer(options: {
  root: string
  host: string
  username: string
  password: string
}): Promise<GitServer> {
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`
  const requests: GitRequest[] = []
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://git')
    if (req.headers.authorization !== expected) {
      requests.push({ path: url.pathname, status: 401 })
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end()
      req.resume()
      return
    }
    void backend(options.root, options.username, url, req, res).then((status) =>
      requests.push({ path: url.pathname, user: options.username, status }),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, options.host, resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${options.host}:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** One request through `git http-backend`; resolves with the status it answered. */
function backend(
  root: string,
  user: string,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<number> {
  const child = execa('git', ['http-backend'], {
    extendEnv: false,
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    },
    stderr: 'ignore',
    encoding: 'buffer',
    stripFinalNewline: false,
    reject: false,
  })
  req.pipe(child.stdin)
  return child.then(({ stdout }) => {
    const out = Buffer.from(stdout ?? new Uint8Array())
    const end = out.indexOf('\r\n\r\n')
    const head = out.subarray(0, Math.max(end, 0)).toString()
    let status = 200
    const headers: Record<string, string> = {}
    for (const line of head.split('\r\n').filter(Boolean)) {
      const at = line.indexOf(':')
      const [name, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()]
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10)
      else headers[name] = value
    }
    if (end < 0) status = 500
    res.writeHead(status, headers).end(end < 0 ? undefined : out.subarray(end + 4))
    return status
  })
}
