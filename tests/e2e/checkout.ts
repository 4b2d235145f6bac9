import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { BootstrapError } from '../../lib/core/errors.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import type { KObject } from '../../lib/kube/client.ts'
import { selectedAppFiles } from '../../lib/kube/manifests.ts'
import type { EnvConfig } from '../../lib/runner/config.ts'

/**
 * What the checkout declares, as the kind e2e reads it: the Applications an environment runs, and
 * the consumers of patterns A and B.
 */

/** Pattern A (files at a CSI mount) and B (a synced Secret), as gitops/runtime-secrets/consumers declares them. */
export interface Consumers {
  patternA: {
    namespace: string
    serviceAccount: string
    secretProviderClass: string
    image: string
    mountPath: string
    objectName: string
    app: string
    field: string
  }
  patternB: { namespace: string; secretName: string; key: string; app: string; field: string }
}

/** `root` and every Application under gitops.rootPath that the environment's include selects. */
export function expectedApplications(env: EnvConfig, root = repoRoot): string[] {
  const dir = join(root, env.gitops.rootPath)
  const files = (readdirSync(dir, { recursive: true }) as string[])
    .filter((rel) => /\.ya?ml$/.test(rel))
    .sort()
  const selected = selectedAppFiles(env.gitops.include, files)
  const names = selected.flatMap((rel) =>
    parseAllDocuments(readFileSync(join(dir, rel), 'utf8'))
      .map((doc) => doc.toJSON() as KObject | null)
      .filter((doc) => doc?.kind === 'Application')
      .map((doc) => (doc as KObject).metadata.name),
  )
  return ['root', ...names]
}

type Doc = Record<string, unknown>
const at = (doc: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>(
    (node, key) =>
      node && typeof node === 'object' ? (node as Record<string, unknown>)[key as string] : undefined,
    doc,
  )

/** Reads the consumers' SecretProviderClasses and Deployments: pattern A has no secretObjects, pattern B syncs a Secret. */
export function consumersOf(dir = join(repoRoot, 'gitops', 'runtime-secrets', 'consumers')): Consumers {
  const docs = readdirSync(dir)
    .filter((file) => /\.ya?ml$/.test(file))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => doc.toJSON() as Doc),
    )
    .filter(Boolean)
  const spcs = docs.filter((doc) => doc.kind === 'SecretProviderClass')
  const objectsOf = (spc: Doc) =>
    (parseYaml(String(at(spc, 'spec', 'parameters', 'objects') ?? '[]')) ?? []) as {
      objectName: string
      secretPath: string
      secretKey: string
    }[]
  const appOf = (secretPath: string) => secretPath.replace(/^[^/]+\/data\//, '')
  const fail = (what: string): never => {
    throw new BootstrapError(`${dir}: ${what}`, {
      hint: 'the e2e reads patterns A and B from the consumers the gitops tree declares',
    })
  }

  const specA =
    spcs.find((spc) => !at(spc, 'spec', 'secretObjects')) ??
    fail('no SecretProviderClass without secretObjects (pattern A)')
  const nsA = String(at(specA, 'metadata', 'namespace'))
  const nameA = String(at(specA, 'metadata', 'name'))
  const objectA = objectsOf(specA)[0] ?? fail(`SecretProviderClass ${nameA} lists no object`)
  const deployment =
    docs.find(
      (doc) =>
        doc.kind === 'Deployment' &&
        at(doc, 'metadata', 'namespace') === nsA &&
        JSON.stringify(at(doc, 'spec', 'template', 'spec', 'volumes') ?? []).includes(
          `"secretProviderClass":"${nameA}"`,
        ),
    ) ?? fail(`no Deployment mounts SecretProviderClass ${nameA}`)
  const pod = at(deployment, 'spec', 'template', 'spec') as Doc
  const volume = ((pod.volumes ?? []) as Doc[]).find(
    (v) => at(v, 'csi', 'volumeAttributes', 'secretProviderClass') === nameA,
  )
  const container =
    ((pod.containers ?? []) as Doc[])[0] ??
    fail(`Deployment ${String(at(deployment, 'metadata', 'name'))} has no container`)
  const mount =
    ((container.volumeMounts ?? []) as Doc[]).find((m) => m.name === volume?.name) ??
    fail(`no container mounts the ${nameA} volume`)

  const specB =
    spcs.find((spc) => at(spc, 'spec', 'secretObjects')) ??
    fail('no SecretProviderClass with secretObjects (pattern B)')
  const synced = at(specB, 'spec', 'secretObjects', 0) as {
    secretName: string
    data: { objectName: string; key: string }[]
  }
  const item = synced.data[0] ?? fail(`secretObjects of ${String(at(specB, 'metadata', 'name'))} map no key`)
  const objectB =
    objectsOf(specB).find((o) => o.objectName === item.objectName) ??
    fail(`object ${item.objectName} is not among the parameters' objects`)

  return {
    patternA: {
      namespace: nsA,
      serviceAccount: String(pod.serviceAccountName),
      secretProviderClass: nameA,
      image: String(container.image),
      mountPath: String(mount.mountPath),
      objectName: objectA.objectName,
      app: appOf(objectA.secretPath),
      field: objectA.secretKey,
    },
    patternB: {
      namespace: String(at(specB, 'metadata', 'namespace')),
      secretName: synced.secretName,
      key: item.key,
      app: appOf(objectB.secretPath),
      field: objectB.secretKey,
    },
  }
}
