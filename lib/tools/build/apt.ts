import { symlinkSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { type Job, StepFailed, step } from '../job.ts'
import { findOnPath } from '../which.ts'

/** redis-server from Debian's package (apt-get), linked into its tool folder. */

export async function installRedisFromApt(job: Job): Promise<string> {
  const sudo = job.deps.isRoot ? [] : ['sudo', '-n']
  const apt = async (...args: string[]) => {
    const [command = 'apt-get', ...rest] = [...sudo, 'apt-get', ...args]
    return step(job, command, rest, { env: { DEBIAN_FRONTEND: 'noninteractive' } })
  }
  const install = ['install', '-y', '--no-install-recommends', 'redis-server']
  try {
    await apt(...install)
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error
    // A fresh machine often has no package lists yet ("Unable to locate package").
    await apt('update')
    await apt(...install)
  }
  const found = findOnPath(
    'redis-server',
    `${job.deps.env.PATH ?? ''}${delimiter}/usr/bin${delimiter}/usr/sbin`,
  )
  if (!found) throw new StepFailed('apt-get installed redis-server but no redis-server binary was found', 1)
  symlinkSync(found, join(job.stage, 'redis-server'))
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const pkg = await job.deps.run('dpkg-query', ['-W', '-f=${Version}', 'redis-server'], { env: job.deps.env })
  return `Debian package redis-server ${pkg.exitCode === 0 ? pkg.stdout.trim() : ''}`.trim()
}
