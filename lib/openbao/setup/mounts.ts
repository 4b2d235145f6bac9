import { BootstrapError } from '../../core/errors.ts'
import { KUBERNETES_AUTH_MOUNT, KV_MOUNT, kubernetesAuthConfig, sameKubernetesAuthConfig } from './policy.ts'
import type { OpenBaoSession } from './session.ts'

/**
 * The two paths setup mounts, and only those: KV v2 at secret/, and the kubernetes auth method
 * with its config. Something else already at either path is never replaced (that would lose
 * its data): setup stops and says how to move it.
 */

export async function ensureKvV2(session: OpenBaoSession): Promise<void> {
  const subject = `secrets engine ${KV_MOUNT}/`
  const mounts = (await session.read('sys/mounts')) ?? {}
  const mount = mounts[`${KV_MOUNT}/`] as { type?: string; options?: { version?: string } | null } | undefined
  if (!mount) {
    await session.change(subject, 'created', 'KV v2', () =>
      session.must(
        'POST',
        `sys/mounts/${KV_MOUNT}`,
        { type: 'kv', options: { version: '2' }, description: 'runtime secrets (platform-bootstrap)' },
        `enable KV v2 at ${KV_MOUNT}/`,
      ),
    )
    return
  }
  if (mount.type === 'kv' && mount.options?.version === '2') {
    session.entry(subject, 'unchanged', 'KV v2')
    return
  }
  throw new BootstrapError(
    `OpenBao at ${session.options.address} has ${KV_MOUNT}/ mounted as ${mount.type ?? 'unknown'}${mount.options?.version ? ` v${mount.options.version}` : ''}, not KV v2`,
    {
      hint: `setup never remounts it (that would lose its data): move its data and disable it (\`bao secrets disable ${KV_MOUNT}\`), then run setup again`,
    },
  )
}

export async function ensureKubernetesAuth(session: OpenBaoSession): Promise<void> {
  const subject = `auth method ${KUBERNETES_AUTH_MOUNT}/`
  const auths = (await session.read('sys/auth')) ?? {}
  const method = auths[`${KUBERNETES_AUTH_MOUNT}/`] as { type?: string } | undefined
  if (!method) {
    await session.change(subject, 'created', undefined, () =>
      session.must(
        'POST',
        `sys/auth/${KUBERNETES_AUTH_MOUNT}`,
        { type: 'kubernetes', description: 'ServiceAccounts of the platform apps (platform-bootstrap)' },
        'enable kubernetes auth',
      ),
    )
  } else if (method.type !== 'kubernetes') {
    throw new BootstrapError(
      `OpenBao at ${session.options.address} has ${KUBERNETES_AUTH_MOUNT}/ enabled as a ${method.type} auth method, not kubernetes`,
      {
        hint: `setup never replaces it: disable it (\`bao auth disable ${KUBERNETES_AUTH_MOUNT}\`) if it is not in use, then run setup again`,
      },
    )
  } else {
    session.entry(subject, 'unchanged')
  }
  const desired = kubernetesAuthConfig(session.options.kubernetes)
  const current = method ? await session.read(`auth/${KUBERNETES_AUTH_MOUNT}/config`) : undefined
  const note = `host ${desired.kubernetes_host}${desired.kubernetes_ca_cert ? ', with its CA' : ''}${desired.disable_local_ca_jwt ? ', OpenBao outside the cluster' : ''}`
  if (sameKubernetesAuthConfig(current, desired)) {
    session.entry('kubernetes auth config', 'unchanged', note)
    return
  }
  await session.change('kubernetes auth config', current ? 'updated' : 'created', note, () =>
    session.must('POST', `auth/${KUBERNETES_AUTH_MOUNT}/config`, { ...desired }, 'configure kubernetes auth'),
  )
}
