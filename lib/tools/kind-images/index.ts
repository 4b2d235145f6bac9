/**
 * The offline route for the kind provider's images (a node image and the platform's image
 * archives, built where a Docker engine answers and the official images cannot be pulled). The
 * public API of lib/tools/kind-images/.
 */
export {
  ensureKindImages,
  type KindImagesOptions,
  type KindImagesResult,
  unreachableRegistries,
} from './ensure.ts'
export { NODE_LABELS, nodeImageLabels, POD_RESOLV_CONF } from './labels.ts'
export { type ArchiveManifest, archiveFileName, readManifest } from './manifest.ts'
export { NODE_IMAGE, platformImages } from './recipe.ts'
export { type KindImageStatus, kindImagesStatus } from './status.ts'
