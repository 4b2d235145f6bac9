import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { type Job, step } from '../../job.ts'

/** Root filesystem folders: unpacked from and packed into tarballs (owners kept), trimmed, given users. */

export async function unpackRoot(job: Job, tarball: string, root: string): Promise<void> {
  mkdirSync(root, { recursive: true })
  await step(job, 'tar', ['--numeric-owner', '-xpf', tarball, '-C', root])
}

export async function packRoot(job: Job, root: string, tarball: string): Promise<void> {
  await step(job, 'tar', ['--numeric-owner', '-C', root, '-cf', tarball, '.'])
}

/** What an image never needs: docs, man pages, locales, apt's caches and lists, logs. */
export function trimRoot(root: string): void {
  for (const dir of [
    'usr/share/doc',
    'usr/share/man',
    'usr/share/info',
    'usr/share/locale',
    'var/cache/apt/archives',
    'var/lib/apt/lists',
    'var/log',
  ]) {
    const path = join(root, dir)
    if (!existsSync(path)) continue
    for (const entry of readdirSync(path)) {
      if (entry === 'partial' || entry === 'lock') continue
      rmSync(join(path, entry), { recursive: true, force: true })
    }
  }
}

/** The usual 1777 /tmp. */
export function makeTmp(root: string): void {
  mkdirSync(join(root, 'tmp'), { recursive: true })
  chmodSync(join(root, 'tmp'), 0o1777)
}

export interface Account {
  name: string
  uid: number
  gid: number
  home: string
  shell: string
  group?: string
}

/** Adds a user and its group to /etc/passwd and /etc/group unless the uid / gid is there already. */
export function addAccount(root: string, account: Account): void {
  mkdirSync(join(root, 'etc'), { recursive: true })
  const passwd = join(root, 'etc', 'passwd')
  const group = join(root, 'etc', 'group')
  const has = (file: string, id: number) =>
    existsSync(file) &&
    readFileSync(file, 'utf8')
      .split('\n')
      .some((line) => line.split(':')[2] === String(id))
  if (!has(group, account.gid)) appendFileSync(group, `${account.group ?? account.name}:x:${account.gid}:\n`)
  if (!has(passwd, account.uid)) {
    appendFileSync(
      passwd,
      `${account.name}:x:${account.uid}:${account.gid}:${account.name}:${account.home}:${account.shell}\n`,
    )
  }
}

/** A minimal /etc for a static binary: root and nobody, hosts lookups, the host's CA bundle. */
export function staticEtc(root: string, caBundle = '/etc/ssl/certs/ca-certificates.crt'): void {
  mkdirSync(join(root, 'etc', 'ssl', 'certs'), { recursive: true })
  writeFileSync(
    join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
  )
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n')
  writeFileSync(join(root, 'etc', 'nsswitch.conf'), 'hosts: files dns\n')
  if (existsSync(caBundle))
    writeFileSync(join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), readFileSync(caBundle))
  makeTmp(root)
}
