import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import { statusCode } from '../../core/request-failure.ts'
import { retry } from '../../core/retry.ts'
import { versions } from '../../core/versions.ts'
import { waitFor } from '../../core/wait.ts'
import { applyObjects } from '../../kube/apply.ts'
import { type KObject, refOf } from '../../kube/client.ts'
import { appliedFrom, crdObjects, readCrdFile } from '../../kube/crd-file.ts'
import type { Logger } from '../../runner/log.ts'
import { argocdCrdFiles as cachedArgocdCrdFiles } from '../../tools/artifacts.ts'
import { type KubeApis, LOCAL_POLL } from '../kube.ts'

/**
 * What the local cluster must hold before Argo CD's processes start, as the chart's install
 * leaves it: Argo CD's CRDs, established; the `default` AppProject; and the caller's argocd-cm
 * and argocd-secret, checked, because the controller exits at once without them.
 */

export const ARGOCD_CRDS = ['applications.argoproj.io', 'appprojects.argoproj.io'] as const

/** Argo CD's own CRD manifests: the tools cache's copy, else the Go module cache's. */
export function argocdCrdFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = ['application-crd.yaml', 'appproject-crd.yaml']
  try {
    return cachedArgocdCrdFiles(env, names)
  } catch (notCached) {
    const gomodcache = env.GOMODCACHE || join(env.GOPATH || join(env.HOME ?? '', 'go'), 'pkg', 'mod')
    const crds = join(
      gomodcache,
      'github.com',
      'argoproj',
      'argo-cd',
      `v3@${versions.argocd}`,
      'manifests',
      'crds',
    )
    const files = names.map((name) => join(crds, name))
    if (files.every((file) => existsSync(file))) return files
    throw notCached
  }
}

type CrdStatus = KObject & { status?: { conditions?: { type: string; status: string }[] } }

/** The group versions and kind a CRD serves, as discovery lists them. */
export function servedKinds(crd: KObject): { group: string; version: string; kind: string }[] {
  const spec = crd.spec as
    | { group?: string; names?: { kind?: string }; versions?: { name: string; served?: boolean }[] }
    | undefined
  const kind = spec?.names?.kind
  if (!spec?.group || !kind) return []
  return (spec.versions ?? [])
    .filter((version) => version.served !== false)
    .map((version) => ({ group: spec.group as string, version: version.name, kind }))
}

export async function applyCrds(
  apis: KubeApis,
  files: string[],
  timeoutMs: number,
  kubeconfig: string,
): Promise<void> {
  // Read as the server's JSON (the pass-through client): the Application CRD is some 400 kB, and
  // client-node's typed model spends tens of milliseconds walking it on every run.
  const read = (name: string) =>
    apis.kube.get<CrdStatus>({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name,
    })
  const established = (crd: CrdStatus | undefined) =>
    crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
  // The files side by side: each is a read of a large object, and none depends on another.
  const outcomes = await Promise.all(
    files.map(async (file): Promise<{ names: string[]; applied: KObject[] }> => {
      const crd = readCrdFile(file)
      if (crd.name) {
        const current = await read(crd.name)
        if (appliedFrom(current, crd) && established(current)) return { names: [crd.name], applied: [] }
      }
      const objects = crdObjects(crd)
      await applyObjects(apis.kube, objects, { force: true })
      return { names: objects.map((object) => object.metadata.name ?? ''), applied: objects }
    }),
  )
  const names = [...new Set(outcomes.flatMap((outcome) => outcome.names))]
  const applied = outcomes.flatMap((outcome) => outcome.applied)
  // Every one unchanged was read Established just now: nothing to wait for.
  if (!applied.length) return
  // Established is not yet discoverable: the API server's discovery of a new group follows on its own
  // queue, and until it lists the kind a client that looks the kind up first (client-node's
  // KubernetesObjectApi, kubectl) is answered 404. Waited for both, so the next request works.
  const kinds = applied.flatMap(servedKinds)
  const groupVersions = [...new Set(kinds.map(({ group, version }) => `/apis/${group}/${version}`))]
  await waitFor(
    `Argo CD CRDs established and served (${names.join(', ')})`,
    async () => {
      for (const name of names) if (!established(await read(name))) return false
      for (const { group, version, kind } of kinds) {
        const served = await apis.custom.getAPIResources({ group, version })
        if (!served.resources.some((resource) => resource.kind === kind)) return false
      }
      return true
    },
    {
      ...LOCAL_POLL,
      timeoutMs,
      hint: `their conditions say why: \`kubectl --kubeconfig ${kubeconfig} get crd ${names.join(' ')} -o yaml\`; what discovery lists: ${groupVersions.map((path) => `\`kubectl --kubeconfig ${kubeconfig} get --raw ${path}\``).join(', ')}`,
    },
  )
}

/**
 * The `default` AppProject as argocd-server makes it at start (server/server.go): anything goes.
 * argocd-server makes it too, but only once it runs, after the controller: made here first, so no
 * Application ever meets a missing project (the controller then waits for its retry to look again).
 */
export async function ensureDefaultProject(apis: KubeApis, namespace: string, log: Logger) {
  const project = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AppProject',
    metadata: { name: 'default', namespace },
    spec: {
      sourceRepos: ['*'],
      destinations: [{ server: '*', namespace: '*' }],
      clusterResourceWhitelist: [{ group: '*', kind: '*' }],
    },
  }
  // Read first: a run with nothing to change sends no write, not even a create refused as a conflict.
  // Both retry: a restarted API server answers 503 for the CRDs' paths until it has installed them.
  if (await apis.kube.get(refOf(project))) return
  try {
    await retry(() => apis.objects.create(project))
    log.detail(`argocd: created AppProject ${namespace}/default`)
  } catch (error) {
    if (statusCode(error) !== 409) throw error
  }
}

/**
 * argocd-cm and argocd-secret are the caller's, but without them — or without the label Argo CD's
 * informers select on (util/settings/settings.go: app.kubernetes.io/part-of=argocd) — the
 * controller exits at once with `configmap "argocd-cm" not found`. Said here, plainly.
 */
export async function checkSettingsObjects(apis: KubeApis, namespace: string): Promise<void> {
  const objects = [
    {
      kind: 'ConfigMap',
      name: 'argocd-cm',
    },
    {
      kind: 'Secret',
      name: 'argocd-secret',
    },
  ]
  for (const object of objects) {
    const found = await apis.kube.get({ apiVersion: 'v1', kind: object.kind, name: object.name, namespace })
    if (!found) {
      throw new BootstrapError(
        `${object.kind} ${namespace}/${object.name} does not exist: Argo CD cannot start without it`,
        {
          hint: 'the runbook creates argocd-cm and argocd-secret before ensureArgoCD',
        },
      )
    }
    if (found.metadata.labels?.['app.kubernetes.io/part-of'] !== 'argocd') {
      throw new BootstrapError(
        `${object.kind} ${namespace}/${object.name} lacks the label app.kubernetes.io/part-of=argocd: Argo CD does not see it`,
        {
          hint: 'label it app.kubernetes.io/part-of: argocd (Argo CD only watches settings objects with that label)',
        },
      )
    }
  }
}
