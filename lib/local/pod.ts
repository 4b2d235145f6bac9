import {
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { ARGOCD_USER, type RepoServerPaths, repoServerPaths } from '../argocd-settings.ts'
import { writeFileAtomicSync } from '../atomic-file.ts'
import { BootstrapError, errorMessage } from '../errors.ts'
import type { Run } from '../exec.ts'
import type { Logger } from '../log.ts'
import type { RunAs } from './processes.ts'

/**
 * What a pod gives Argo CD's processes that a host process lacks: its image's user, a filesystem of
 * its own, Secrets and ConfigMaps mounted as root-owned files with the volume's mode. The local
 * provider lays these out under the node folder (layout.ts) so the local tier meets the permissions
 * kind meets: a wrong defaultMode, a repository git will not trust, fail here first.
 */

/**
 * Argo CD's processes run as its image's user (uid/gid 999, no other groups) when this run is root,
 * and the user is made if missing; run as another user, they run as that user.
 */
export async function argocdRunAs(run: Run, log: Logger): Promise<RunAs | undefined> {
  const uid = process.getuid?.()
  if (uid !== 0) {
    log.detail(
      `argocd: its processes run as you (uid ${uid}), not as its image's uid ${ARGOCD_USER.uid}: what that difference breaks (file modes, git's safe.directory) is proven only by a run as root, as in CI`,
    )
    return undefined
  }
  await ensureUser(run, log)
  return { uid: ARGOCD_USER.uid, gid: ARGOCD_USER.gid }
}

async function ensureUser(run: Run, log: Logger): Promise<void> {
  const { name, uid, gid } = ARGOCD_USER
  const exists = (db: string, id: number) =>
    run('getent', [db, String(id)]).then(
      () => true,
      () => false,
    )
  if (await exists('passwd', uid)) return
  try {
    if (!(await exists('group', gid))) await run('groupadd', ['--gid', String(gid), name])
    await run('useradd', [
      ...['--system', '--uid', String(uid), '--gid', String(gid), '--no-create-home'],
      ...['--home-dir', '/home/argocd', '--shell', '/usr/sbin/nologin', name],
    ])
  } catch (error) {
    throw new BootstrapError(
      `could not make user ${name} (uid ${uid}) to run Argo CD's processes as: ${errorMessage(error)}`,
      {
        hint: `make a user with uid ${uid} and gid ${gid} (\`useradd --system --uid ${uid} --gid ${gid} ${name}\`), or run as a user other than root`,
      },
    )
  }
  log.detail(
    `argocd: made user ${name} (uid ${uid}, gid ${gid}) to run Argo CD's processes as its image does`,
  )
}

/** The repo-server's paths (lib/argocd-settings.ts) inside its pod's root on the node; the served repositories are the node's. */
export function podRepoServerPaths(podRoot: string, servedRepos: string): RepoServerPaths {
  const inPod = (path: string) => join(podRoot, path)
  return {
    configHome: inPod(repoServerPaths.configHome),
    ageKeyDir: inPod(repoServerPaths.ageKeyDir),
    pluginHome: inPod(repoServerPaths.pluginHome),
    gitConfigDir: inPod(repoServerPaths.gitConfigDir),
    servedRepos,
  }
}

/** A folder the process's user owns, as its image or an emptyDir gives it (home, /tmp, /app/config/…). */
export function ownedDir(dir: string, runAs: RunAs | undefined, mode = 0o700): string {
  // Its parents are the image's: root's, and open to every user (mkdir's mode would apply to them too).
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 })
  mkdirSync(dir, { recursive: true, mode })
  if (runAs) chownSync(dir, runAs.uid, runAs.gid)
  return dir
}

/** One key of a mounted Secret or ConfigMap, as the kubelet writes it: owned by root (here: this run), the volume's mode. */
export function writeMounted(file: string, content: string | Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 })
  writeFileAtomicSync(file, content, mode)
}

/**
 * The binaries Argo CD's image holds (argocd, kustomize, helm, git-verify-wrapper.sh; sops for the
 * KSOPS stand-in), in one folder the image's user can reach: the tools cache sits in the home of
 * whoever ran create, which uid 999 cannot enter. Hard links where the filesystems allow, copies
 * elsewhere; the folder is named by Argo CD's version, so a new pin starts the processes anew.
 */
export function ensureImage(node: string, version: string, binaries: Record<string, string>): string {
  const images = join(node, 'image')
  const bin = join(images, `argocd-${version}`, 'usr', 'local', 'bin')
  mkdirSync(bin, { recursive: true, mode: 0o755 })
  for (const other of readdirSync(images))
    if (other !== `argocd-${version}`) rmSync(join(images, other), { recursive: true, force: true })
  for (const [name, source] of Object.entries(binaries)) placeInImage(realpathSync(source), join(bin, name))
  return bin
}

function placeInImage(source: string, target: string): void {
  const from = statSync(source)
  if (existsSync(target)) {
    const to = statSync(target)
    if (to.ino === from.ino || (to.size === from.size && to.mtimeMs === from.mtimeMs)) return
  }
  const tmp = `${target}.tmp-${process.pid}`
  rmSync(tmp, { force: true })
  try {
    linkSync(source, tmp)
  } catch {
    copyFileSync(source, tmp)
    utimesSync(tmp, from.atime, from.mtime)
  }
  renameSync(tmp, target)
}
