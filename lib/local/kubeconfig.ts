import { mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { stringify } from 'yaml'
import { writeFileAtomicSync } from '../core/atomic-file.ts'

export interface KubeconfigOptions {
  /** https://127.0.0.1:<port> */
  server: string
  caFile: string
  certFile: string
  keyFile: string
  /** Context, cluster and user name. */
  name: string
}

/**
 * Writes a kubeconfig (0600) with the CA, client certificate and key embedded, so it stands
 * on its own like kind's: client-node, kubectl, kwok and Argo CD all read it the same way.
 */
export function writeKubeconfig(file: string, options: KubeconfigOptions): void {
  const b64 = (path: string) => readFileSync(path).toString('base64')
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: options.name,
        cluster: { server: options.server, 'certificate-authority-data': b64(options.caFile) },
      },
    ],
    users: [
      {
        name: options.name,
        user: { 'client-certificate-data': b64(options.certFile), 'client-key-data': b64(options.keyFile) },
      },
    ],
    contexts: [{ name: options.name, context: { cluster: options.name, user: options.name } }],
    'current-context': options.name,
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileAtomicSync(file, stringify(config), 0o600)
}
