import { BootstrapError } from '../../core/errors.ts'
import type { KubernetesTarget } from './policy.ts'
import { KUBERNETES_AUTH_MOUNT, KV_MOUNT, kubernetesAuthConfig, sameKubernetesAuthConfig } from './policy.ts'
import type { BaoRequests } from './requests.ts'
import type { Changes } from './session.ts'

/**
 * The two paths setup mounts, and only those: KV v2 at secret/, and the kubernetes auth method
 * with its config. Something else already at either path is never replaced (that would lose
 * its data): setup stops and says how to move it.
 */

export async function ensureKvV2(bao: BaoRequests, changes: Changes): Promise<void> {
  const subject = `secrets engine ${KV_MOUNT}/`
  const mounts = (await bao.read('sys/mounts')) ?? {}
  const mount = mounts[`${KV_MOUNT}/`] as { type?: string; options?: { version?: string } | null } | undefined
  if (!mount) {
    await changes.change(subject, 'created', 'KV v2', () =>
      bao.must(
        'POST',
        `sys/mounts/${KV_MOUNT}`,
        { type: 'kv', options: { version: '2' }, description: 'runtime secrets (platform-bootstrap)' },
        `enable KV v2 at ${KV_MOUNT}/`,
      ),
    )
    return
  }
  if (mount.type === 'kv' && mount.options?.version === '2') {
    changes.entry(subject, 'unchanged', 'KV v2')
    return
  }
  throw new BootstrapError(
    `OpenBao at ${bao.address} has ${KV_MOUNT}/ mounted as ${mount.type ?? 'unknown'}${mount.options?.version ? ` v${mount.options.version}` : ''}, not KV v2`,
    {
      hint: `setup never remounts it (that would lose its data): move its data and disable it (\`bao secrets disable ${KV_MOUNT}\`), then run setup again`,
    },
  )
}

export async function ensureKubernetesAuth(
  bao: BaoRequests,
  changes: Changes,
  kubernetes: KubernetesTarget,
): Promise<void> {
  const subject = `auth method ${KUBERNETES_AUTH_MOUNT}/`
  const auths = (await bao.read('sys/auth')) ?? {}
  const method = auths[`${KUBERNETES_AUTH_MOUNT}/`] as { type?: string } | undefined
  if (!method) {
    await changes.change(subject, 'created', undefined, () =>
      bao.must(
        'POST',
        `sys/auth/${KUBERNETES_AUTH_MOUNT}`,
        { type: 'kubernetes', description: 'ServiceAccounts of the platform apps (platform-bootstrap)' },
        'enable kubernetes auth',
      ),
    )
  } else if (method.type !== 'kubernetes') {
    throw new BootstrapError(
      `OpenBao at ${bao.address} has ${KUBERNETES_AUTH_MOUNT}/ enabled as a ${method.type} auth method, not kubernetes`,
      {
        hint: `setup never replaces it: disable it (\`bao auth disable ${KUBERNETES_AUTH_MOUNT}\`) if it is not in use, then run setup again`,
      },
    )
  } else {
    changes.entry(subject, 'unchanged')
  }
  const desired = kubernetesAuthConfig(kubernetes)
  const current = method ? await bao.read(`auth/${KUBERNETES_AUTH_MOUNT}/config`) : undefined
  const note = `host ${desired.kubernetes_host}${desired.kubernetes_ca_cert ? ', with its CA' : ''}${desired.disable_local_ca_jwt ? ', OpenBao outside the cluster' : ''}`
  if (sameKubernetesAuthConfig(current, desired)) {
    changes.entry('kubernetes auth config', 'unchanged', note)
    return
  }
  await changes.change('kubernetes auth config', current ? 'updated' : 'created', note, () =>
    bao.must('POST', `auth/${KUBERNETES_AUTH_MOUNT}/config`, { ...desired }, 'configure kubernetes auth'),
  )
}
