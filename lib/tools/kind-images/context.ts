import { join } from 'node:path'
import { toolsCacheDir } from '../../core/paths.ts'
import type { ToolDeps } from '../deps.ts'

/** What every kind-images build step shares: the installer's dependencies and the cache layout. */

export interface KindImagesContext {
  /** The installer's dependencies; `env` carries GOPROXY (the proxy alone) and GOFLAGS for every Go build. */
  deps: ToolDeps
  /** `<tools cache>/kind-images`. */
  root: string
  /** The tools cache itself (logs/ and .staging/ are shared with the installer). */
  cache: string
  force: boolean
}

export function kindImagesRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsCacheDir(env), 'kind-images')
}

/** The Debian packages debootstrap fetched, kept for every later root. */
export function debCacheDir(ctx: KindImagesContext): string {
  return join(ctx.root, 'debs')
}

/**
 * The Go module proxy alone (`go env GOPROXY` up to its first comma): with `,direct`, a module
 * missing from the proxy makes go fetch its import path itself, which must never happen here.
 */
export function proxyOnly(goproxy: string): string {
  const first = goproxy.split(/[,|]/)[0]?.trim()
  return first && first !== 'direct' && first !== 'off' ? first : 'https://proxy.golang.org'
}

export function log(ctx: KindImagesContext, line: string): void {
  ctx.deps.log(`[kind-images] ${line}`)
}
