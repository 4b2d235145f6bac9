import { createPrivateKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../core/atomic-file.ts'
import { BootstrapError } from '../core/errors.ts'
import { run as defaultRun, type Run } from '../core/exec.ts'
import type { Logger } from '../runner/log.ts'

/**
 * The local cluster's PKI: one CA, the apiserver's serving certificate, one client
 * certificate per component, and the ServiceAccount token signing key pair. Keys are made
 * with node:crypto; certificates are signed by `openssl req -x509 -CA` (OpenSSL 3) reading the
 * key files, so no key ever appears on a command line. Existing material is reused as long
 * as it is valid; a certificate that expires soon, no longer matches the CA or its key, or
 * lacks a wanted name is issued again.
 */

/** The service IP of `kubernetes.default` in `--service-cluster-ip-range 10.0.0.0/24`. */
export const KUBERNETES_SERVICE_IP = '10.0.0.1'

export interface CertPair {
  cert: string
  key: string
}

/** Who each client certificate is: the CN is the Kubernetes user, O its groups. */
export const clientIdentities = {
  admin: { cn: 'kubernetes-admin', o: ['system:masters'] },
  // --use-service-account-credentials=false: every controller acts as this user,
  // so it needs more than the system:kube-controller-manager role grants.
  'kube-controller-manager': { cn: 'system:kube-controller-manager', o: ['system:masters'] },
  'kube-scheduler': { cn: 'system:kube-scheduler', o: [] },
  // kwok plays the kubelet of every fake node (node and pod status, leases).
  kwok: { cn: 'kwok', o: ['system:masters'] },
} as const

export type ClientName = keyof typeof clientIdentities

export interface Pki {
  dir: string
  ca: CertPair
  apiserver: CertPair
  /** etcd's serving certificate, and the client certificate the apiserver presents to it. */
  etcd: CertPair
  etcdClient: CertPair
  /** Argo CD's repo-server's serving certificate: the controller and server check it (strict TLS). */
  repoServer: CertPair
  clients: Record<ClientName, CertPair>
  /** --service-account-key-file (public) and --service-account-signing-key-file (private). */
  serviceAccount: { publicKey: string; privateKey: string }
}

export interface PkiOptions {
  dir: string
  log: Logger
  run?: Run
  now?: () => Date
}

const CA_DAYS = 3650
const LEAF_DAYS = 365
/** Reissue a certificate this close to its expiry. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000

const apiserverNames = {
  dns: [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ],
  ip: ['127.0.0.1', KUBERNETES_SERVICE_IP],
}

/** The file names of the PKI in `dir`, without creating anything. */
export function pkiPaths(dir: string): Pki {
  const pair = (name: string): CertPair => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) })
  const clients = Object.fromEntries(
    Object.keys(clientIdentities).map((name) => [name, pair(`client-${name}`)]),
  ) as Record<ClientName, CertPair>
  return {
    dir,
    ca: pair('ca'),
    apiserver: pair('apiserver'),
    etcd: pair('etcd'),
    etcdClient: pair('etcd-client'),
    repoServer: pair('argocd-repo-server'),
    clients,
    serviceAccount: { publicKey: join(dir, 'sa.pub'), privateKey: join(dir, 'sa.key') },
  }
}

export async function ensurePki(options: PkiOptions): Promise<Pki> {
  const run = options.run ?? defaultRun
  const now = options.now ?? (() => new Date())
  const paths = pkiPaths(options.dir)
  mkdirSync(options.dir, { recursive: true, mode: 0o700 })
  chmodSync(options.dir, 0o700)
  const issued: string[] = []

  const caValid = certUsable(paths.ca, now(), (cert) => cert.ca)
  if (!caValid) {
    writePrivateKey(paths.ca.key, newEcKey())
    await openssl(run, [
      'req',
      '-x509',
      '-new',
      '-key',
      paths.ca.key,
      '-subj',
      '/CN=platform-bootstrap-local-ca',
      '-days',
      String(CA_DAYS),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-out',
      paths.ca.cert,
    ])
    issued.push('ca')
  }
  const caCert = new X509Certificate(readFileSync(paths.ca.cert))

  const leaf = async (
    name: string,
    pair: CertPair,
    subject: string,
    extensions: string[],
    wanted: (cert: X509Certificate) => boolean,
  ) => {
    if (caValid && certUsable(pair, now(), (cert) => cert.verify(caCert.publicKey) && wanted(cert))) return
    writePrivateKey(pair.key, newEcKey())
    await openssl(run, [
      'req',
      '-x509',
      '-new',
      '-key',
      pair.key,
      '-CA',
      paths.ca.cert,
      '-CAkey',
      paths.ca.key,
      '-subj',
      subject,
      '-days',
      String(LEAF_DAYS),
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      ...extensions.flatMap((ext) => ['-addext', ext]),
      '-out',
      pair.cert,
    ])
    issued.push(name)
  }

  /**
   * A serving certificate for the names a client dials (its SANs), reissued when one is missing
   * or it lacks a usage asked for.
   */
  const serving = (
    name: string,
    pair: CertPair,
    cn: string,
    sans: string[],
    usages: readonly (keyof typeof EXTENDED_KEY_USAGES)[] = ['serverAuth'],
  ) =>
    leaf(
      name,
      pair,
      `/CN=${cn}`,
      [`extendedKeyUsage=${usages.join(',')}`, `subjectAltName=${sans.join(',')}`],
      (cert) =>
        sans.every((san) => (cert.subjectAltName ?? '').includes(sanForm(san))) &&
        usages.every((usage) => (cert.keyUsage ?? []).includes(EXTENDED_KEY_USAGES[usage])),
    )
  await serving('apiserver', paths.apiserver, 'kube-apiserver', [
    ...apiserverNames.dns.map((n) => `DNS:${n}`),
    ...apiserverNames.ip.map((ip) => `IP:${ip}`),
  ])
  // etcd speaks TLS and takes only this CA's clients: a process that took its port while it was
  // down could otherwise receive everything the apiserver stores, Secrets included.
  // clientAuth as well: etcd's gRPC gateway dials etcd's own client port presenting this
  // certificate, and --client-cert-auth rejects one without it ("incompatible key usage" in etcd's
  // log, the gateway's /v3 endpoints broken). kubeadm issues etcd's server certificate the same way.
  await serving('etcd', paths.etcd, 'etcd', ['DNS:localhost', 'IP:127.0.0.1'], ['serverAuth', 'clientAuth'])
  await leaf(
    'etcd-client',
    paths.etcdClient,
    '/CN=kube-apiserver-etcd-client',
    ['extendedKeyUsage=clientAuth'],
    () => true,
  )
  // The same for Argo CD's repo-server: its clients send it repository credentials.
  await serving('argocd-repo-server', paths.repoServer, 'argocd-repo-server', [
    'DNS:localhost',
    'DNS:argocd-repo-server',
    'IP:127.0.0.1',
  ])
  for (const [name, id] of Object.entries(clientIdentities) as [
    ClientName,
    (typeof clientIdentities)[ClientName],
  ][]) {
    const subject = [...id.o.map((o) => `/O=${o}`), `/CN=${id.cn}`].join('')
    await leaf(name, paths.clients[name], subject, ['extendedKeyUsage=clientAuth'], (cert) =>
      cert.subject.split('\n').includes(`CN=${id.cn}`),
    )
  }

  if (!existsSync(paths.serviceAccount.privateKey) || !existsSync(paths.serviceAccount.publicKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    writePrivateKey(paths.serviceAccount.privateKey, privateKey)
    writeFileAtomicSync(
      paths.serviceAccount.publicKey,
      publicKey.export({ type: 'spki', format: 'pem' }),
      0o644,
    )
    issued.push('service-account keys')
  }

  if (issued.length > 0) options.log.detail(`pki: issued ${issued.join(', ')} in ${options.dir}`)
  else options.log.detail(`pki: reusing ${options.dir}`)
  return paths
}

/** The OIDs X509Certificate.keyUsage lists for the extended key usages openssl's -addext names. */
const EXTENDED_KEY_USAGES = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const

/** X509Certificate.subjectAltName writes `IP Address:1.2.3.4`; openssl's -addext takes `IP:1.2.3.4`. */
function sanForm(name: string): string {
  return name.startsWith('IP:') ? `IP Address:${name.slice(3)}` : name
}

function certUsable(pair: CertPair, now: Date, wanted: (cert: X509Certificate) => boolean): boolean {
  if (!existsSync(pair.cert) || !existsSync(pair.key)) return false
  try {
    const cert = new X509Certificate(readFileSync(pair.cert))
    if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return false
    if (new Date(cert.validFrom).getTime() > now.getTime()) return false
    if (!cert.checkPrivateKey(privateKeyFrom(pair.key))) return false
    return wanted(cert)
  } catch {
    return false
  }
}

function privateKeyFrom(file: string): KeyObject {
  return createPrivateKey(readFileSync(file))
}

function newEcKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
}

function writePrivateKey(file: string, key: KeyObject): void {
  writeFileAtomicSync(file, key.export({ type: 'pkcs8', format: 'pem' }), 0o600)
}

async function openssl(run: Run, args: string[]): Promise<void> {
  try {
    await run('openssl', args, {
      timeoutMs: 30_000,
      hint: 'the local PKI needs OpenSSL 3 (`openssl version`)',
    })
  } catch (error) {
    if (error instanceof BootstrapError) throw error
    throw new BootstrapError(`openssl ${args[0]} failed`, { cause: error })
  }
}
