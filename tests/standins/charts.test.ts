import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1'
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { Job } from 'kubernetes-models/batch/v1'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { CHART_ARGOCD_CM } from '../../lib/argocd/chart-cm.ts'
import {
  ageSecret,
  argocdCm,
  argocdCmdParams,
  helmValues,
  repoServerEnv,
  repoServerPaths,
} from '../../lib/argocd/settings.ts'
import { run } from '../../lib/core/exec.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { versions } from '../../lib/core/versions.ts'
import type { KObject } from '../../lib/kube/client.ts'
import { CONTROLLER_POD_SELECTOR } from '../../lib/providers/helm-argocd.ts'
import { platformImages } from '../../lib/tools/kind-images/recipe.ts'
import { buildStandinCharts } from './chart-mirror.ts'

/**
 * The STAND-IN charts (tests/standins/charts, not the upstream ones), packaged as the chart
 * mirror serves them and rendered with the values the runbook really gives them: the argo-cd one
 * with helmValues() as step 06 installs it on kind, the openbao one with the valuesObject of
 * gitops/apps/runtime-secrets/openbao.yaml. Needs helm on PATH and go (the Argo CD module).
 */

// biome-ignore lint/suspicious/noExplicitAny: one model class per kind, each with its own constructor type
type Model = new (data: any) => { validate(): void }
const MODELS: Record<string, Model> = {
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
}
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'])

interface Container {
  name: string
  image: string
  command?: string[]
  env?: { name: string; value?: string }[]
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[]
  readinessProbe?: {
    httpGet?: { path: string; port: number | string; scheme?: string }
    initialDelaySeconds?: number
    periodSeconds?: number
    failureThreshold?: number
  }
}
interface PodSpec {
  initContainers?: Container[]
  containers: Container[]
  volumes?: Record<string, unknown>[]
  securityContext?: Record<string, unknown>
  serviceAccountName?: string
}
interface Workload extends KObject {
  spec: {
    selector: { matchLabels: Record<string, string> }
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> }
      spec: PodSpec
    }
    volumeClaimTemplates?: KObject[]
  }
}

async function helmTemplate(
  release: string,
  namespace: string,
  chart: string,
  values: unknown,
): Promise<KObject[]> {
  const { stdout } = await run(
    'helm',
    [
      'template',
      release,
      chart,
      '--namespace',
      namespace,
      '--kube-version',
      versions.kubernetes,
      '--values',
      '-',
    ],
    { input: stringify(values), timeoutMs: 120_000 },
  )
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as KObject | null)
    .filter((object): object is KObject => Boolean(object))
}

function find<T extends KObject = KObject>(objects: KObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (!found) throw new Error(`no ${kind}/${name} rendered`)
  return found as T
}

const names = (objects: KObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`)

function expectValid(objects: KObject[]): void {
  for (const object of objects) {
    const model = MODELS[`${object.apiVersion}/${object.kind}`]
    expect(model, `a kubernetes-models class for ${object.apiVersion} ${object.kind}`).toBeDefined()
    expect(
      () => new (model as Model)(object).validate(),
      `${object.kind}/${object.metadata.name}`,
    ).not.toThrow()
  }
}

function containers(workload: Workload): Container[] {
  const pod = workload.spec.template.spec
  return [...(pod.initContainers ?? []), ...pod.containers]
}

/** The runbook's values for the argo-cd chart on kind (dev serves the checkout's repositories), dex and the CRDs off. */
const argocdValues = {
  ...helmValues({ servedRepoNames: ['platform'] }),
  dex: { enabled: false },
  crds: { install: false },
}

const openbaoApp = new Application(
  parse(readFileSync(join(repoRoot, 'gitops', 'apps', 'runtime-secrets', 'openbao.yaml'), 'utf8')),
)
const openbaoValues = openbaoApp.spec?.source?.helm?.valuesObject as {
  server: { image: { tag: string }; standalone: { config: string }; readinessProbe: { path: string } }
}

describe('stand-in charts (tests/standins/charts)', () => {
  let mirror: string
  let packages: string[]
  let argocd: KObject[]
  let openbao: KObject[]

  beforeAll(async () => {
    mirror = mkdtempSync(join(tmpdir(), 'standin-mirror-'))
    packages = await buildStandinCharts(mirror)
    argocd = await helmTemplate('argocd', 'argocd', packages[0] as string, argocdValues)
    openbao = await helmTemplate('openbao', 'openbao', packages[1] as string, openbaoValues)
  }, 900_000)

  afterAll(() => {
    if (mirror) rmSync(mirror, { recursive: true, force: true })
  })

  it('packages argo-cd and openbao under the names and versions lib/core/versions.ts pins, marked as stand-ins', async () => {
    const { argocd: argoChart, openbao: baoChart } = versions.charts
    expect(packages).toEqual([
      join(mirror, `${argoChart.name}-${argoChart.version}.tgz`),
      join(mirror, `${baoChart.name}-${baoChart.version}.tgz`),
    ])
    // The openbao Application installs the chart the mirror serves.
    expect(openbaoApp.spec?.source).toMatchObject({ chart: baoChart.name, targetRevision: baoChart.version })
    const charts: [string, string][] = [
      [packages[0] as string, versions.argocd],
      [packages[1] as string, versions.openbao],
    ]
    for (const [file, appVersion] of charts) {
      const chart = parse((await run('helm', ['show', 'chart', file])).stdout) as Record<string, string>
      expect(chart.appVersion).toBe(appVersion)
      expect(chart.description).toMatch(/^STAND-IN, not the upstream chart/)
    }
  })

  describe('argo-cd, with helmValues() plus dex and CRDs off', () => {
    it('every object is a valid Kubernetes object in the release namespace, with the release labels', () => {
      expectValid(argocd)
      for (const object of argocd) {
        const where = `${object.kind}/${object.metadata.name}`
        if (CLUSTER_SCOPED.has(object.kind ?? '')) expect(object.metadata.namespace, where).toBeUndefined()
        else expect(object.metadata.namespace, where).toBe('argocd')
        if (object.metadata.name === 'argocd-repo-server-gitconfig') continue // extraObjects: as given
        expect(object.metadata.labels, where).toMatchObject({
          'app.kubernetes.io/instance': 'argocd',
          'app.kubernetes.io/managed-by': 'Helm',
          'app.kubernetes.io/part-of': 'argocd',
          'helm.sh/chart': `argo-cd-${versions.charts.argocd.version}`,
        })
      }
      for (const binding of argocd.filter((o) => o.kind === 'ClusterRoleBinding'))
        for (const subject of binding.subjects as { namespace?: string }[])
          expect(subject.namespace).toBe('argocd')
    })

    it('renders the objects the runbook and the upstream chart name, and no dex object nor CRD', () => {
      const rendered = names(argocd)
      expect(rendered).toEqual(
        expect.arrayContaining([
          'Deployment/argocd-server',
          'Deployment/argocd-repo-server',
          'Deployment/argocd-redis',
          'Deployment/argocd-applicationset-controller',
          'Deployment/argocd-notifications-controller',
          'StatefulSet/argocd-application-controller',
          'Service/argocd-server',
          'Service/argocd-repo-server',
          'Service/argocd-redis',
          'ConfigMap/argocd-cm',
          'ConfigMap/argocd-cmd-params-cm',
          'ConfigMap/argocd-rbac-cm',
          'ConfigMap/argocd-repo-server-gitconfig',
          'Secret/argocd-secret',
          'ServiceAccount/argocd-server',
          'ClusterRoleBinding/argocd-application-controller',
          'NetworkPolicy/argocd-repo-server',
        ]),
      )
      expect(new Set(rendered).size).toBe(rendered.length)
      expect(rendered.filter((name) => name.includes('dex'))).toEqual([])
      expect(argocd.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([])
    })

    it('runs the pinned Argo CD image everywhere, and the redis image the kind images provide', () => {
      const images = argocd
        .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'Job')
        .flatMap((o) => containers(o as Workload).map((c) => c.image))
      const argocdImages = images.filter((image) => image.startsWith('quay.io/argoproj/argocd:'))
      expect(argocdImages.length).toBeGreaterThanOrEqual(7)
      expect(new Set(argocdImages)).toEqual(new Set([platformImages.argocd]))
      expect(platformImages.argocd).toBe(`quay.io/argoproj/argocd:${versions.argocd}`)
      expect(find<Workload>(argocd, 'Deployment', 'argocd-redis').spec.template.spec.containers).toEqual([
        expect.objectContaining({
          name: 'redis',
          image: platformImages.redis,
          imagePullPolicy: 'IfNotPresent',
        }),
      ])
    })

    it('the redis password Secret is made before any pod starts, as upstream: by a pre-install hook Job', () => {
      const redis = find<Workload>(argocd, 'Deployment', 'argocd-redis').spec.template.spec
      expect(redis.initContainers ?? []).toEqual([])
      const hook = {
        'helm.sh/hook': 'pre-install,pre-upgrade',
        'helm.sh/hook-delete-policy': 'before-hook-creation',
      }
      const job = find<Workload>(argocd, 'Job', 'argocd-redis-secret-init')
      expect(job.metadata.annotations).toEqual(hook)
      expect(job.spec.template.spec.containers).toEqual([
        expect.objectContaining({
          command: ['argocd', 'admin', 'redis-initial-password'],
          image: `quay.io/argoproj/argocd:${versions.argocd}`,
        }),
      ])
      expect(job.spec.template.spec.serviceAccountName).toBe('argocd-redis-secret-init')
      for (const kind of ['ServiceAccount', 'Role', 'RoleBinding'])
        expect(find(argocd, kind, 'argocd-redis-secret-init').metadata.annotations).toEqual(hook)
      const role = find(argocd, 'Role', 'argocd-redis-secret-init')
      expect(role.rules).toEqual(
        expect.arrayContaining([expect.objectContaining({ resources: ['secrets'], verbs: ['create'] })]),
      )
      const password = find<Workload>(argocd, 'Deployment', 'argocd-server').spec.template.spec.containers[0]
      expect(password?.env).toEqual(
        expect.arrayContaining([
          { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'argocd-redis', key: 'auth' } } },
        ]),
      )
    })

    it('the repo-server has the KSOPS init containers, volumes, mounts and environment', () => {
      const repoServer = find<Workload>(argocd, 'Deployment', 'argocd-repo-server')
      const pod = repoServer.spec.template.spec
      const ksops = pod.initContainers?.filter((c) => c.image === versions.images.ksopsInit) ?? []
      expect(ksops.map((c) => c.name)).toEqual(['install-ksops', 'install-ksops-plugin'])
      expect(pod.volumes).toEqual(
        expect.arrayContaining([
          { name: 'custom-tools', emptyDir: {} },
          { name: 'sops-age-key', secret: { secretName: ageSecret.secret, defaultMode: 0o444 } },
          { name: 'git-config', configMap: { name: 'argocd-repo-server-gitconfig' } },
          { name: 'served-repos', hostPath: { path: repoServerPaths.servedRepos, type: 'Directory' } },
        ]),
      )
      const main = pod.containers.find((c) => c.name === 'repo-server')
      expect(main, 'the repo-server container (named as upstream names it)').toBeDefined()
      const mounts = main?.volumeMounts?.map((m) => m.mountPath) ?? []
      expect(mounts).toEqual(
        expect.arrayContaining([
          '/usr/local/bin/ksops',
          repoServerPaths.pluginHome,
          repoServerPaths.ageKeyDir,
          repoServerPaths.gitConfigDir,
          repoServerPaths.servedRepos,
        ]),
      )
      expect(main?.env).toEqual(
        expect.arrayContaining(Object.entries(repoServerEnv()).map(([name, value]) => ({ name, value }))),
      )
      // A changed setting restarts the pods, as upstream's checksum annotations do.
      expect(Object.keys(repoServer.spec.template.metadata.annotations ?? {}).sort()).toEqual([
        'checksum/cm',
        'checksum/cmd-params',
      ])
    })

    it('argocd-cm and argocd-cmd-params-cm hold the runbook settings as strings', () => {
      const cm = find(argocd, 'ConfigMap', 'argocd-cm').data as Record<string, string>
      for (const [key, value] of Object.entries(argocdCm)) expect(cm[key], key).toBe(value)
      expect(cm['kustomize.buildOptions']).toBe('--enable-alpha-plugins --enable-exec')
      // The upstream chart's own entries, as lib/argocd/chart-cm.ts records them (the local
      // provider writes the same), under the runbook's.
      for (const [key, value] of Object.entries(CHART_ARGOCD_CM))
        if (!(key in argocdCm)) expect(cm[key], key).toBe(value)
      const params = find(argocd, 'ConfigMap', 'argocd-cmd-params-cm').data as Record<string, string>
      expect(params['server.insecure']).toBe('true')
      for (const [key, value] of Object.entries(argocdCmdParams)) expect(params[key], key).toBe(value)
      for (const value of Object.values(params)) expect(typeof value).toBe('string')
    })

    it('the server, repo-server and controller probe readiness as helmValues() says, on their own health endpoints', () => {
      const values = argocdValues as Record<string, { readinessProbe?: Record<string, number> }>
      for (const [kind, name, key, container, port] of [
        ['Deployment', 'argocd-server', 'server', 'server', 8080],
        ['Deployment', 'argocd-repo-server', 'repoServer', 'repo-server', 8084],
        ['StatefulSet', 'argocd-application-controller', 'controller', 'application-controller', 8082],
      ] as const) {
        const main = find<Workload>(argocd, kind, name).spec.template.spec.containers.find(
          (c) => c.name === container,
        )
        expect(main?.readinessProbe, name).toMatchObject({
          ...values[key]?.readinessProbe,
          httpGet: { path: '/healthz', port },
        })
      }
    })

    it("the controller's pods carry the label create reads their start by, as the upstream chart's do", () => {
      // Upstream (argo-helm argo-cd-10.1.1, read): the pod template's argo-cd.selectorLabels give
      // app.kubernetes.io/name "<argo-cd.name>-application-controller", argo-cd.name being the
      // values' nameOverride, argocd, which helmValues() leaves alone.
      const [key, value] = CONTROLLER_POD_SELECTOR.split('=') as [string, string]
      const controller = find<Workload>(argocd, 'StatefulSet', 'argocd-application-controller')
      expect(controller.spec.template.metadata.labels[key]).toBe(value)
    })

    it('the defaults render dex and the CRDs, which the runbook turns off', async () => {
      const defaults = await helmTemplate('argocd', 'argocd', packages[0] as string, {})
      // Upstream's default readiness (from 10 s, every 10 s) replaces install.yaml's.
      const server = find<Workload>(defaults, 'Deployment', 'argocd-server').spec.template.spec.containers[0]
      expect(server?.readinessProbe).toMatchObject({
        initialDelaySeconds: 10,
        periodSeconds: 10,
        failureThreshold: 3,
      })
      expect(
        defaults.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name),
      ).toEqual(expect.arrayContaining(['applications.argoproj.io', 'appprojects.argoproj.io']))
      expect(names(defaults)).toContain('Deployment/argocd-dex-server')
      expectValid(defaults)
    })
  })

  describe('openbao, with the valuesObject of gitops/apps/runtime-secrets/openbao.yaml', () => {
    it('renders the server objects of the upstream chart, valid, and nothing else', () => {
      expectValid(openbao)
      expect(names(openbao).sort()).toEqual(
        [
          'ClusterRoleBinding/openbao-server-binding',
          'ConfigMap/openbao-config',
          'Service/openbao',
          'Service/openbao-internal',
          'ServiceAccount/openbao',
          'StatefulSet/openbao',
        ].sort(),
      )
      for (const object of openbao.filter((o) => !CLUSTER_SCOPED.has(o.kind ?? '')))
        expect(object.metadata.namespace).toBe('openbao')
      const binding = find(openbao, 'ClusterRoleBinding', 'openbao-server-binding')
      expect(binding.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'system:auth-delegator',
      })
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'openbao', namespace: 'openbao' }])
      const ports = (name: string) =>
        ((find(openbao, 'Service', name).spec as { ports: { port: number }[] }).ports ?? []).map(
          (p) => p.port,
        )
      expect(ports('openbao')).toEqual([8200, 8201])
      expect(ports('openbao-internal')).toEqual([8200, 8201])
      expect((find(openbao, 'Service', 'openbao-internal').spec as { clusterIP: string }).clusterIP).toBe(
        'None',
      )
    })

    it('the config ConfigMap holds server.standalone.config', () => {
      const data = find(openbao, 'ConfigMap', 'openbao-config').data as Record<string, string>
      expect(data['extraconfig-from-values.hcl']).toBe(openbaoValues.server.standalone.config.trim())
      expect(data['extraconfig-from-values.hcl']).toContain('seal "static"')
    })

    it('the StatefulSet runs the pinned server with the unseal key, the config and its data claim', () => {
      const statefulSet = find<Workload>(openbao, 'StatefulSet', 'openbao')
      const labels = {
        'app.kubernetes.io/name': 'openbao',
        'app.kubernetes.io/instance': 'openbao',
        component: 'server',
      }
      expect(statefulSet.spec.selector.matchLabels).toEqual(labels)
      expect(statefulSet.spec.template.metadata.labels).toMatchObject(labels)
      const pod = statefulSet.spec.template.spec
      expect(pod.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 100,
        runAsGroup: 1000,
        fsGroup: 1000,
      })
      expect(pod.serviceAccountName).toBe('openbao')
      expect(pod.volumes).toEqual(
        expect.arrayContaining([
          { name: 'config', configMap: { name: 'openbao-config' } },
          { name: 'unseal-key', secret: { secretName: 'openbao-unseal-key', defaultMode: 0o440 } },
        ]),
      )
      const [server] = pod.containers
      expect(server?.image).toBe(`quay.io/openbao/openbao:${openbaoValues.server.image.tag}`)
      expect(server?.image).toBe(platformImages.openbao)
      expect(server?.volumeMounts).toEqual(
        expect.arrayContaining([
          { name: 'data', mountPath: '/openbao/data' },
          { name: 'config', mountPath: '/openbao/config' },
          { name: 'unseal-key', mountPath: '/openbao/unseal', readOnly: true },
        ]),
      )
      expect(server?.env?.map((e) => e.name)).toEqual(
        expect.arrayContaining([
          'BAO_ADDR',
          'BAO_API_ADDR',
          'SKIP_CHOWN',
          'SKIP_SETCAP',
          'HOSTNAME',
          'POD_IP',
        ]),
      )
      expect(server?.env).toEqual(
        expect.arrayContaining([{ name: 'BAO_ADDR', value: 'http://127.0.0.1:8200' }]),
      )
      expect(server?.readinessProbe?.httpGet).toEqual({
        path: openbaoValues.server.readinessProbe.path,
        port: 8200,
        scheme: 'HTTP',
      })
      expect(server?.readinessProbe).toMatchObject({
        initialDelaySeconds: 1,
        periodSeconds: 2,
        failureThreshold: 5,
      })
      expect(statefulSet.spec.volumeClaimTemplates).toEqual([
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
        },
      ])
    })
  })
})
