import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../../core/atomic-file.ts'
import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import { statusCode } from '../../core/request-failure.ts'
import { retry } from '../../core/retry.ts'
import type { Logger } from '../../runner/log.ts'
import { dataOf, type KubeApis } from '../kube.ts'
import { localBinary } from '../process/binaries.ts'
import type { Component } from '../process/component.ts'
import { unixSocketOpen } from '../process/probe.ts'
import type { RunAs } from '../process/processes.ts'
import { REDIS_SECRET } from './chart-env.ts'
import { privateSocket } from './private-socket.ts'

/**
 * Argo CD's redis on the local cluster, as the chart runs it: password-protected, the password in
 * Secret argocd-redis, where the chart's Argo CD containers take it from (chart-env.ts REDIS_SECRET).
 */

/** Secret argocd-redis / auth, made once when absent and never replaced, as the chart's redis-secret-init Job does. */
export async function ensureRedisSecret(apis: KubeApis, namespace: string, log: Logger): Promise<string> {
  const read = async () =>
    (await dataOf(apis.kube, 'Secret', namespace, REDIS_SECRET.name))?.[REDIS_SECRET.key]
  let auth = await read()
  if (!auth) {
    const password = randomBytes(24).toString('base64url')
    redactor.add(password)
    await retry(() =>
      apis.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: REDIS_SECRET.name, namespace, labels: { 'app.kubernetes.io/part-of': 'argocd' } },
          type: 'Opaque',
          data: { [REDIS_SECRET.key]: Buffer.from(password).toString('base64') },
        },
      }),
    ).catch((error: unknown) => {
      if (statusCode(error) !== 409) throw error
    })
    auth = await read()
    log.detail(`argocd: made Secret ${namespace}/${REDIS_SECRET.name} (the redis password)`)
  }
  if (!auth)
    throw new BootstrapError(`Secret ${namespace}/${REDIS_SECRET.name} has no key ${REDIS_SECRET.key}`)
  const password = Buffer.from(auth, 'base64').toString()
  redactor.add(password)
  return password
}

/**
 * Where redis listens: a unix socket in a folder only Argo CD's processes' user can pass. No TCP
 * port: a port another user's process could take after redis died, and then receive Argo CD's
 * `AUTH` with the password (go-redis dials a unix socket when the address starts with `/`).
 */
export function redisSocket(nodeDir: string, runAs: RunAs | undefined): string {
  return privateSocket(nodeDir, 'redis', 'redis.sock', runAs)
}

/**
 * redis as the chart runs it, with `requirepass` — from a 0600 config file here, not the command
 * line: on a host every user can read every process's command line. It listens on `socket` only.
 */
export function redisComponent(dir: string, socket: string, password: string): Component<never> {
  const config = join(dir, 'redis.conf')
  return {
    name: 'redis',
    portKeys: [],
    spec: () => {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      writeFileAtomicSync(
        config,
        [
          'port 0',
          `unixsocket ${socket}`,
          // The folder is the gate (0700, Argo CD's user): the socket itself is open to whoever passes it.
          'unixsocketperm 777',
          'protected-mode yes',
          `requirepass ${password}`,
          'save ""',
          'appendonly no',
          `dir ${dir}`,
          'daemonize no',
          // Keep /proc/<pid>/cmdline as started: that is how a running process is recognised.
          'set-proc-title no',
          '',
        ].join('\n'),
        0o600,
      )
      return { command: localBinary('redis-server'), args: [config], cwd: dir, inputs: [config] }
    },
    ready: async () => unixSocketOpen(socket),
    readyTimeoutMs: 15_000,
  }
}
