import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../core/errors.ts'
import { ARGOCD_CRDS, selectTools, type Tool, toolDir } from './catalogue.ts'

/** Files besides binaries that other modules take from the tools cache. */

/** Argo CD's CRDs (all, or the named files), from the pinned release's own manifests. */
export function argocdCrdFiles(
  env: NodeJS.ProcessEnv = process.env,
  crds: readonly string[] = ARGOCD_CRDS,
): string[] {
  const tool = selectTools(['argocd'])[0] as Tool
  const files = crds.map((crd) => join(toolDir(tool, env), 'crds', crd))
  const missing = files.filter((file) => !existsSync(file))
  if (missing.length > 0) {
    throw new BootstrapError(`Argo CD's CRDs are not in the tools cache (${missing.join(', ')})`, {
      hint: 'run `just tools argocd`',
    })
  }
  return files
}

/** kwok's default stages (node initialise + heartbeat, pod ready/complete/delete), to pass as `--config`. */
export function kwokStageFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const tool = selectTools(['kwok'])[0] as Tool
  const dir = join(toolDir(tool, env), 'stages')
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((file) => file.endsWith('.yaml'))
        .sort()
        .map((file) => join(dir, file))
    : []
  if (files.length === 0) {
    throw new BootstrapError(`kwok's stages are not in the tools cache (${dir})`, {
      hint: 'run `just tools kwok`',
    })
  }
  return files
}
