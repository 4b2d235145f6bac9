import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { HEALTHY_AFTER_LABEL } from '../../lib/argocd/status.ts'
import { authDelegatorBinding } from '../../lib/openbao/setup/policy.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'

/**
 * A secret consumer for the local tree, planted into a workspace copy: on kind the consumers' pods
 * cannot start before openbao-setup (their CSI volumes log in to OpenBao), and the local tier has no
 * CSI driver and no real pods. What holds them back here is as real: a ValidatingAdmissionPolicy
 * (built into kube-apiserver) admits the consumer's pod only once its ServiceAccount is bound to
 * system:auth-delegator — which openbao-setup does, and must, for OpenBao outside the cluster to
 * review the pod's token at login. Until then the ReplicaSet's pod is refused, the Deployment is
 * not Available and the Application is Progressing, whatever anyone waits: it can be Healthy only
 * after step 09.
 */
export const CONSUMER_APP = 'openbao-consumer'
/** The admission policy that holds the consumer's pod back: its name is in every refusal. */
export const CONSUMER_POLICY = 'openbao-login-possible'

export function plantOpenBaoConsumer(
  dir: string,
  env: EnvConfig,
): { app: string; namespace: string; binding: string } {
  const consumer = env.openbao.apps[0]
  if (!consumer) throw new Error('the local environment lists no OpenBao app to consume secrets')
  const binding = authDelegatorBinding(consumer).metadata.name
  const path = 'gitops/local-tests/openbao-consumer'
  mkdirSync(join(dir, path), { recursive: true })
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: consumer.namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: consumer.serviceAccount, namespace: consumer.namespace },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      // Before the Deployment, so no pod is ever admitted ahead of the policy.
      metadata: { name: CONSUMER_POLICY, annotations: { 'argocd.argoproj.io/sync-wave': '-1' } },
      spec: {
        failurePolicy: 'Fail',
        paramKind: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
          ],
        },
        validations: [
          {
            expression:
              "params.subjects.exists(s, s.kind == 'ServiceAccount' && s.name == object.spec.serviceAccountName && s.namespace == object.metadata.namespace)",
            message: 'its ServiceAccount cannot log in to OpenBao: not bound to system:auth-delegator yet',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: {
        name: `${CONSUMER_POLICY}-${consumer.name}`,
        annotations: { 'argocd.argoproj.io/sync-wave': '-1' },
      },
      spec: {
        policyName: CONSUMER_POLICY,
        validationActions: ['Deny'],
        paramRef: { name: binding, parameterNotFoundAction: 'Deny' },
        matchResources: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': consumer.namespace } },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: consumer.name, namespace: consumer.namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: consumer.name } },
        template: {
          metadata: { labels: { app: consumer.name } },
          spec: {
            serviceAccountName: consumer.serviceAccount,
            containers: [{ name: consumer.name, image: 'registry.invalid/never-pulled:1' }],
          },
        },
      },
    },
  ]
  writeFileSync(join(dir, path, 'consumer.yaml'), docs.map((doc) => stringify(doc)).join('---\n'))

  writeFileSync(
    join(dir, 'gitops/apps/local-tests.yaml'),
    stringify({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: CONSUMER_APP,
        namespace: 'argocd',
        labels: { [HEALTHY_AFTER_LABEL]: 'openbao-setup' },
        annotations: { 'argocd.argoproj.io/sync-wave': '12' },
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        project: 'default',
        source: { repoURL: env.gitops.platformRepo.url, targetRevision: 'HEAD', path },
        destination: { server: 'https://kubernetes.default.svc', namespace: consumer.namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['ServerSideApply=true'],
          retry: { limit: 10, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
        },
      },
    }),
  )
  const config = parse(readFileSync(env.file, 'utf8'))
  config.gitops.include = [...config.gitops.include, 'local-tests.yaml']
  writeFileSync(env.file, stringify(config))
  return { app: CONSUMER_APP, namespace: consumer.namespace, binding }
}
