import type { KObject } from '../../lib/kube/client.ts'

/** An Application as read from a cluster, trimmed to what verdicts read: its name, status, and what else a test gives. */
export function recordedApplication(
  name: string,
  status?: Record<string, unknown>,
  extra: Partial<KObject> = {},
): KObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd' },
    ...(status ? { status } : {}),
    ...extra,
  } as KObject
}
