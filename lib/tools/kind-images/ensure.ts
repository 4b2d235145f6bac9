import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import { toolsCacheDir } from '../../core/paths.ts'
import { PROBE_TIMEOUT_MS } from '../build/download.ts'
import { defaultToolDeps, type ToolDeps } from '../deps.ts'
import { appendLog } from '../job.ts'
import {
  cniPart,
  containerdPart,
  corednsPart,
  crictlPart,
  etcdPart,
  ksopsStandinPart,
  kubernetesNodePart,
  localPathPart,
  pausePart,
} from './build/binaries.ts'
import { dockerEngine, inspectImage, removeImages } from './build/docker.ts'
import { ensurePart, openJob, type Part, type PartResult, partFailure, publish } from './build/parts.ts'
import { busyboxPart, rootPart } from './build/roots.ts'
import { storageManifestFrom } from './build/storage.ts'
import { type KindImagesContext, kindImagesRoot, log, proxyOnly } from './context.ts'
import { componentImagesList, componentImagesPart } from './images/component-images.ts'
import { buildNodeImage, kindModuleDir } from './images/node-image.ts'
import { buildPlatformImage } from './images/platform-images.ts'
import { builtFrom } from './labels.ts'
import { type ArchiveEntry, missingImages, readManifest, writeManifest } from './manifest.ts'
import {
  NODE_IMAGE,
  nodeRecipe,
  type PlatformImage,
  platformImages,
  platformRecipe,
  recipeKey,
} from './recipe.ts'

/**
 * The offline route for the kind provider's images: where a Docker engine answers and the official
 * images cannot be pulled (the registries do not answer, or `--offline`), build the kind node image
 * and the platform's image archives from the registries this machine reaches. A second run finds
 * everything built and does nothing; a changed recipe rebuilds.
 */

/** Registries the official images come from: kindest/node, the control plane, the platform's charts. */
export const IMAGE_REGISTRIES = [
  'https://registry-1.docker.io/v2/',
  'https://registry.k8s.io/v2/',
  'https://quay.io/v2/',
]

export interface KindImagesOptions {
  deps?: Partial<ToolDeps>
  offline?: boolean
  force?: boolean
}

export interface KindImagesResult {
  /** `skipped`: no engine, or the official images can be pulled; `cached`: nothing was built. */
  action: 'skipped' | 'cached' | 'built'
  reason?: string
  nodeImage?: string
  archiveDir?: string
  archives?: ArchiveEntry[]
  seconds: number
  parts: PartResult[]
}

/** Which registries do not answer a HEAD request in time (any HTTP status is an answer): nothing is pulled. */
export async function unreachableRegistries(deps: ToolDeps): Promise<string[]> {
  const answers = await Promise.all(
    IMAGE_REGISTRIES.map(async (url) => {
      try {
        await deps.fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
        return undefined
      } catch {
        return new URL(url).host
      }
    }),
  )
  return answers.filter((host): host is string => Boolean(host))
}

function context(options: KindImagesOptions): KindImagesContext {
  const base = { ...defaultToolDeps(), ...options.deps }
  const env = {
    ...base.env,
    GOPROXY: proxyOnly(base.env.GOPROXY ?? ''),
    GOFLAGS: [base.env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' '),
  }
  const deps = { ...base, env }
  return { deps, root: kindImagesRoot(env), cache: toolsCacheDir(env), force: options.force === true }
}

export async function ensureKindImages(options: KindImagesOptions = {}): Promise<KindImagesResult> {
  const ctx = context(options)
  const start = ctx.deps.now()
  const seconds = () => Math.round((ctx.deps.now() - start) / 100) / 10
  const engine = await dockerEngine(ctx.deps)
  if (!engine) {
    log(ctx, 'skipped: no Docker engine answers (only the kind provider needs these images)')
    return { action: 'skipped', reason: 'no Docker engine', seconds: 0, parts: [] }
  }
  if (!options.offline) {
    const unreachable = await unreachableRegistries(ctx.deps)
    if (unreachable.length === 0) {
      log(ctx, 'skipped: the image registries answer, kind pulls the official images')
      return { action: 'skipped', reason: 'the official images can be pulled', seconds: 0, parts: [] }
    }
    log(
      ctx,
      `${unreachable.join(', ')} not reachable: the kind images come from the offline route (Docker ${engine})`,
    )
  } else {
    log(ctx, `--offline: the kind images come from the offline route (Docker ${engine})`)
  }
  mkdirSync(ctx.root, { recursive: true })

  const parts: PartResult[] = []
  const failures: BootstrapError[] = []
  const run = async (part: Part): Promise<PartResult | undefined> => {
    try {
      const result = await ensurePart(ctx, part)
      parts.push(result)
      return result
    } catch (error) {
      failures.push(error instanceof BootstrapError ? error : partFailure(part.name, error, ''))
      return undefined
    }
  }
  const dir = (result: PartResult | undefined) => result?.dir ?? ''

  // Debian roots (network and dpkg bound) while the Go builds (CPU bound) run.
  const rootsDone = (async () => ({
    node: await run(rootPart(ctx, 'node')),
    proxy: await run(rootPart(ctx, 'proxy')),
    busybox: await run(busyboxPart()),
    redis: await run(rootPart(ctx, 'redis')),
    argocd: await run(rootPart(ctx, 'argocd')),
  }))()
  const binariesDone = (async () => ({
    pause: await run(pausePart()),
    cni: await run(cniPart()),
    crictl: await run(crictlPart()),
    containerd: await run(containerdPart()),
    etcd: await run(etcdPart()),
    coredns: await run(corednsPart()),
    localPath: await run(localPathPart()),
    kubernetesNode: await run(kubernetesNodePart()),
    ksops: await run(ksopsStandinPart()),
  }))()
  const [rootParts, binaryParts] = await Promise.all([rootsDone, binariesDone])
  if (failures.length > 0) throw combined(failures)

  // The node image: its component images, then the image itself unless one from this recipe is there.
  const nodeKey = recipeKey(nodeRecipe())
  let nodeAction: 'cached' | 'built' = 'cached'
  const present = await inspectImage(ctx.deps, NODE_IMAGE)
  if (!ctx.force && present && builtFrom(present.labels, nodeKey)) {
    log(ctx, `node image ${NODE_IMAGE}: cached (recipe ${nodeKey})`)
  } else {
    if (present)
      log(ctx, `node image ${NODE_IMAGE}: built from another recipe, rebuilding (recipe ${nodeKey})`)
    const { job, close } = openJob(ctx, 'node-image', nodeKey)
    try {
      const storage = storageManifestFrom(
        readFileSync(join(await kindModuleDir(job), 'pkg/build/nodeimage/const_storage.go'), 'utf8'),
      )
      const components = await run(
        componentImagesPart({
          dirs: {
            kubernetesNode: dir(binaryParts.kubernetesNode),
            etcd: dir(binaryParts.etcd),
            coredns: dir(binaryParts.coredns),
            pause: dir(binaryParts.pause),
            localPath: dir(binaryParts.localPath),
            busybox: dir(rootParts.busybox),
            proxyRoot: dir(rootParts.proxy),
          },
          storageImages: storage.images,
        }),
      )
      if (!components) throw combined(failures)
      log(ctx, `node image ${NODE_IMAGE}: assembling (recipe ${nodeKey}, ~2 min)…`)
      const started = ctx.deps.now()
      const images = await buildNodeImage(job, {
        dirs: {
          root: dir(rootParts.node),
          containerd: dir(binaryParts.containerd),
          crictl: dir(binaryParts.crictl),
          cni: dir(binaryParts.cni),
          kubernetesNode: dir(binaryParts.kubernetesNode),
          componentImages: components.dir,
        },
        recipeKey: nodeKey,
        expectedImages: componentImagesList(storage.images).flat(),
      })
      appendLog(job, `\npreloaded into the node's containerd:\n${images.join('\n')}\n`)
      // The image it replaces would stay behind untagged.
      if (present) await removeImages(job, [present.id])
      log(ctx, `node image ${NODE_IMAGE}: done in ${Math.round((ctx.deps.now() - started) / 1000)} s`)
      nodeAction = 'built'
    } catch (error) {
      throw partFailure(`node image ${NODE_IMAGE}`, error, job.logFile)
    } finally {
      await close()
    }
  }

  // The platform archives: one folder per recipe, only the newest kept.
  const platformKey = recipeKey(platformRecipe())
  const archiveDir = join(ctx.root, platformKey)
  const wanted = Object.values(platformImages)
  let manifest = readManifest(archiveDir)
  let archivesAction: 'cached' | 'built' = 'cached'
  if (!ctx.force && manifest && missingImages(archiveDir, manifest, wanted).length === 0) {
    log(ctx, `platform image archives: cached (${archiveDir})`)
  } else {
    const { job, close } = openJob(ctx, 'platform-images', platformKey)
    const started = ctx.deps.now()
    try {
      const archives: ArchiveEntry[] = []
      const inputs = {
        dirs: {
          argocdRoot: dir(rootParts.argocd),
          redisRoot: dir(rootParts.redis),
          busybox: dir(rootParts.busybox),
          ksops: dir(binaryParts.ksops),
        },
      }
      for (const name of Object.keys(platformImages) as PlatformImage[]) {
        log(ctx, `platform image ${platformImages[name]}…`)
        archives.push(await buildPlatformImage(job, inputs, name, job.stage))
      }
      manifest = {
        key: platformKey,
        createdAt: new Date(ctx.deps.now()).toISOString(),
        seconds: Math.round((ctx.deps.now() - started) / 1000),
        archives,
      }
      writeManifest(job.stage, manifest)
      publish(job.stage, archiveDir, ctx.cache)
      mkdirSync(job.stage) // close() removes it
      removeOtherArchiveDirs(ctx.root, platformKey)
      log(ctx, `platform image archives: done in ${manifest.seconds} s (${archiveDir})`)
      archivesAction = 'built'
    } catch (error) {
      throw partFailure('platform image archives', error, job.logFile)
    } finally {
      await close()
    }
  }
  const built =
    nodeAction === 'built' || archivesAction === 'built' || parts.some((p) => p.action === 'built')
  return {
    action: built ? 'built' : 'cached',
    nodeImage: NODE_IMAGE,
    archiveDir,
    archives: manifest?.archives,
    seconds: seconds(),
    parts,
  }
}

/** Archive folders of older recipes: replaced by the current one. */
function removeOtherArchiveDirs(root: string, keep: string): void {
  for (const name of readdirSync(root)) {
    if (name !== keep && /^[0-9a-f]{12}$/.test(name) && existsSync(join(root, name, 'manifest.json'))) {
      rmSync(join(root, name), { recursive: true, force: true })
    }
  }
}

function combined(failures: BootstrapError[]): BootstrapError {
  if (failures.length === 1 && failures[0]) return failures[0]
  return new BootstrapError(
    `${failures.length} parts of the kind images could not be built:\n\n${failures.map((f) => f.message).join('\n\n')}`,
    {
      hint: failures
        .map((f) => f.hint)
        .filter(Boolean)
        .join('\n'),
    },
  )
}
