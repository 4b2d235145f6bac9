import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { defaultToolDeps, type ToolDeps } from '../deps.ts'
import { dockerEngine, inspectImage } from './build/docker.ts'
import { kindImagesRoot } from './context.ts'
import { builtFrom, NODE_LABELS } from './labels.ts'
import { missingImages, readManifest } from './manifest.ts'
import { NODE_IMAGE, nodeRecipe, platformImages, platformRecipe, recipeKey } from './recipe.ts'

/** What this machine has of the offline kind images, for doctor: the node image and each archive. */

export interface KindImageStatus {
  item: string
  /** The image name(s) or the archive file. */
  found: string
  /** Where it came from. */
  from: string
  ok: boolean
  note: string
}

export async function kindImagesStatus(
  options: { deps?: Partial<ToolDeps> } = {},
): Promise<KindImageStatus[]> {
  const deps = { ...defaultToolDeps(), ...options.deps }
  const rows: KindImageStatus[] = []
  if (!(await dockerEngine(deps))) {
    return [
      {
        item: 'kind node image',
        found: '-',
        from: '-',
        ok: false,
        note: 'no Docker engine: the offline kind images are skipped (only the kind provider needs them)',
      },
    ]
  }
  const node = await inspectImage(deps, NODE_IMAGE)
  const nodeKey = recipeKey(nodeRecipe())
  if (!node) {
    rows.push({
      item: 'kind node image',
      found: 'missing',
      from: '-',
      ok: false,
      note: `${NODE_IMAGE}: \`just tools kind-images\` builds it where kindest/node cannot be pulled (--offline)`,
    })
  } else {
    const current = builtFrom(node.labels, nodeKey)
    rows.push({
      item: 'kind node image',
      found: NODE_IMAGE,
      from: node.labels[NODE_LABELS.source] ? 'built offline' : 'docker',
      ok: current,
      note: current
        ? `recipe ${nodeKey}, ${Math.round(node.size / 1e6)} MB, ${node.labels[NODE_LABELS.cni] ?? '?'} CNI, resolvConf ${node.labels[NODE_LABELS.resolvConf] ?? '-'}`
        : `built from recipe ${node.labels[NODE_LABELS.recipe] ?? '?'}, the recipe is now ${nodeKey}: run \`just tools kind-images\``,
    })
  }
  const root = kindImagesRoot(deps.env)
  const key = recipeKey(platformRecipe())
  const dir = join(root, key)
  const manifest = readManifest(dir)
  const wanted = Object.values(platformImages)
  if (!manifest) {
    const older = existsSync(root) ? readdirSync(root).filter((name) => /^[0-9a-f]{12}$/.test(name)) : []
    rows.push({
      item: 'kind image archives',
      found: 'missing',
      from: '-',
      ok: false,
      note: `${dir}${older.length ? ` (older recipe: ${older.join(', ')})` : ''}: run \`just tools kind-images\``,
    })
    return rows
  }
  for (const entry of manifest.archives) {
    const present = existsSync(join(dir, entry.file))
    rows.push({
      item: `kind archive ${entry.images.join(', ')}`,
      found: present ? entry.file : 'missing',
      from: entry.source,
      ok: present,
      note: present ? dir : `run \`just tools kind-images\``,
    })
  }
  for (const image of missingImages(dir, manifest, wanted)) {
    if (manifest.archives.some((entry) => entry.images.includes(image))) continue
    rows.push({
      item: `kind archive ${image}`,
      found: 'missing',
      from: '-',
      ok: false,
      note: 'run `just tools kind-images`',
    })
  }
  return rows
}
