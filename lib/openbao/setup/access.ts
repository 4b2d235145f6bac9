import type { OpenBaoAppConfig } from '../../runner/config.ts'
import { appRole, KUBERNETES_AUTH_MOUNT, samePolicy, sameRole } from './policy.ts'
import type { OpenBaoSession } from './session.ts'

/**
 * Who may do what, written only where it differs: ACL policies (setup's own admin policy, and a
 * read-only one per app) and each app's kubernetes auth role. The documents are in policy.ts.
 */

export async function ensurePolicy(
  session: OpenBaoSession,
  name: string,
  policy: string,
  subject: string,
): Promise<void> {
  const current = await session.read(`sys/policies/acl/${name}`)
  const text = typeof current?.policy === 'string' ? current.policy : undefined
  if (samePolicy(text, policy)) {
    session.entry(subject, 'unchanged')
    return
  }
  await session.change(subject, current ? 'updated' : 'created', undefined, () =>
    session.must('PUT', `sys/policies/acl/${name}`, { policy }, `write policy ${name}`),
  )
}

export async function ensureRole(session: OpenBaoSession, app: OpenBaoAppConfig): Promise<void> {
  const subject = `kubernetes role ${app.name}`
  const desired = appRole(app)
  const note = `ServiceAccount ${app.namespace}/${app.serviceAccount}, policy ${app.name}`
  const current = await session.read(`auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`)
  if (sameRole(current, desired)) {
    session.entry(subject, 'unchanged', note)
    return
  }
  await session.change(subject, current ? 'updated' : 'created', note, () =>
    session.must(
      'POST',
      `auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`,
      { ...desired },
      `write role ${app.name}`,
    ),
  )
}
