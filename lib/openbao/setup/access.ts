import type { OpenBaoAppConfig } from '../../runner/config.ts'
import { appRole, KUBERNETES_AUTH_MOUNT, samePolicy, sameRole } from './policy.ts'
import type { BaoRequests } from './requests.ts'
import type { Changes } from './session.ts'

/**
 * Who may do what, written only where it differs: ACL policies (setup's own admin policy, and a
 * read-only one per app) and each app's kubernetes auth role. The documents are in policy.ts.
 */

export async function ensurePolicy(
  bao: BaoRequests,
  changes: Changes,
  name: string,
  policy: string,
  subject: string,
): Promise<void> {
  const current = await bao.read(`sys/policies/acl/${name}`)
  const text = typeof current?.policy === 'string' ? current.policy : undefined
  if (samePolicy(text, policy)) {
    changes.entry(subject, 'unchanged')
    return
  }
  await changes.change(subject, current ? 'updated' : 'created', undefined, () =>
    bao.must('PUT', `sys/policies/acl/${name}`, { policy }, `write policy ${name}`),
  )
}

export async function ensureRole(bao: BaoRequests, changes: Changes, app: OpenBaoAppConfig): Promise<void> {
  const subject = `kubernetes role ${app.name}`
  const desired = appRole(app)
  const note = `ServiceAccount ${app.namespace}/${app.serviceAccount}, policy ${app.name}`
  const current = await bao.read(`auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`)
  if (sameRole(current, desired)) {
    changes.entry(subject, 'unchanged', note)
    return
  }
  await changes.change(subject, current ? 'updated' : 'created', note, () =>
    bao.must(
      'POST',
      `auth/${KUBERNETES_AUTH_MOUNT}/role/${app.name}`,
      { ...desired },
      `write role ${app.name}`,
    ),
  )
}
