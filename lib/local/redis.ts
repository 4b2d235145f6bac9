import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../atomic-file.ts'
import { BootstrapError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { redactor } from '../redact.ts'
import { statusCode, unlessAbsent } from '../retry.ts'
import { localBinary } from './binaries.ts'
import { REDIS_SECRET } from './chart-env.ts'
import type { Component } from './component.ts'
import type { KubeApis } from './kube.ts'
import { LOOPBACK } from './ports.ts'
import { tcpOpen } from './probe.ts'

/**
 * Argo CD's redis on the local cluster, as the chart runs it: password-protected, the password in
 * Secret argocd-redis, where the chart's Argo CD containers take it from (chart-env.ts REDIS_SECRET).
 */

/** Secret argocd-redis / auth, made once when absent and never replaced, as the chart's redis-secret-init Job does. */
export async function ensureRedisSecret(apis: KubeApis, namespace: string, log: Logger): Promise<string> {
  const read = async () =>
    (await unlessAbsent(apis.core.readNamespacedSecret({ name: REDIS_SECRET.name, namespace })))?.data?.[
      REDIS_SECRET.key
    ]
  let auth = await read()
  if (!auth) {
    const password = randomBytes(24).toString('base64url')
    redactor.add(password)
    await apis.core
      .createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: REDIS_SECRET.name, namespace, labels: { 'app.kubernetes.io/part-of': 'argocd' } },
          type: 'Opaque',
          data: { [REDIS_SECRET.key]: Buffer.from(password).toString('base64') },
        },
      })
      .catch((error: unknown) => {
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
 * redis as the chart runs it, with `requirepass` — from a 0600 config file here, not the command
 * line: on a host every user can read every process's command line.
 */
export function redisComponent(dir: string, ports: { port: number }, password: string): Component<'port'> {
  const config = join(dir, 'redis.conf')
  return {
    name: 'redis',
    portKeys: ['port'],
    fixedPorts: ports,
    spec: ({ port }) => {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      writeFileAtomicSync(
        config,
        [
          `bind ${LOOPBACK}`,
          `port ${port}`,
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
    ready: async ({ port }) => tcpOpen(port),
    readyTimeoutMs: 15_000,
  }
}
