import { run } from '../../lib/core/exec.ts'
import type { Pki } from '../../lib/local/pki.ts'

/**
 * Writes over etcd's serving certificate the kind earlier runs issued: its names, its key and CA,
 * for server auth alone (no clientAuth, which etcd's gRPC gateway needs).
 */
export async function writeServerAuthOnlyEtcdCert(pki: Pick<Pki, 'ca' | 'etcd'>): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    pki.etcd.key,
    '-CA',
    pki.ca.cert,
    '-CAkey',
    pki.ca.key,
    '-subj',
    '/CN=etcd',
    '-days',
    '365',
    '-addext',
    'extendedKeyUsage=serverAuth',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-out',
    pki.etcd.cert,
  ])
}
