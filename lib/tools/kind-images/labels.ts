import { NODE_IMAGE_LABELS } from '../../providers/kind-cli.ts'

/**
 * The node image's labels: what it needs of the kind config (read back by lib/providers/kind-cli.ts
 * nodeImageNeeds, so the kind provider need not know how it was built), and the recipe it was
 * built from (a changed recipe rebuilds it).
 */

export const NODE_LABELS = {
  ...NODE_IMAGE_LABELS,
  /** The hash of the node recipe (recipe.ts nodeRecipe). */
  recipe: 'platform-bootstrap.kind-node.recipe',
  /** Where the image came from, for doctor. */
  source: 'platform-bootstrap.kind-node.source',
} as const

/** Path of the resolv.conf the kubelet gives pods with dnsPolicy Default (CoreDNS's upstream). */
export const POD_RESOLV_CONF = '/kind/pod-resolv.conf'

export function nodeImageLabels(recipeKey: string): Record<string, string> {
  return {
    // A static ptp + host-local + portmap conflist in the image: networking.disableDefaultCNI, one node only.
    [NODE_LABELS.cni]: 'static',
    // KubeletConfiguration resolvConf: a local address where nothing answers.
    [NODE_LABELS.resolvConf]: POD_RESOLV_CONF,
    [NODE_LABELS.recipe]: recipeKey,
    [NODE_LABELS.source]:
      'built offline by `just tools` (lib/tools/kind-images): kindest/node cannot be pulled',
  }
}

/** Whether an image's labels say it was built from this recipe. */
export function builtFrom(labels: Record<string, string> | undefined, recipeKey: string): boolean {
  return labels?.[NODE_LABELS.recipe] === recipeKey
}
