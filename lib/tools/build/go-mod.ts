import { BootstrapError } from '../../core/errors.ts'

/**
 * go.mod replace lines: derived from the upstream go.mod, never kept by hand (they change between
 * minors).
 */

export interface GoModReplace {
  module: string
  /** Set when only one version of `module` is replaced (`X v1 => Y v2`). */
  moduleVersion?: string
  target: string
  /** Absent for a local path target (`=> ./staging/src/...`). */
  targetVersion?: string
}

/** Every replace directive of a go.mod, single-line and block form. */
export function parseGoModReplaces(goMod: string): GoModReplace[] {
  const replaces: GoModReplace[] = []
  let inBlock = false
  for (const raw of goMod.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim()
    if (!line) continue
    let spec: string | undefined
    if (inBlock) {
      if (line === ')') {
        inBlock = false
        continue
      }
      spec = line
    } else if (/^replace\s*\($/.test(line)) {
      inBlock = true
      continue
    } else if (line.startsWith('replace ')) {
      spec = line.slice('replace '.length)
    }
    if (!spec) continue
    const [left = '', right = ''] = spec.split('=>').map((side) => side.trim().split(/\s+/))
    const [module, moduleVersion] = left
    const [target, targetVersion] = right
    if (!module || !target) throw new BootstrapError(`cannot read go.mod replace line: ${raw.trim()}`)
    replaces.push({ module, moduleVersion, target, targetVersion })
  }
  return replaces
}

/**
 * `go mod edit` arguments that copy a go.mod's replaces into a wrapper module. A local path
 * target cannot be followed outside its repository, so `local` names the published module
 * version that stands for it (or undefined: the build cannot go on).
 */
export function wrapperReplaceArgs(
  goMod: string,
  local: (replace: GoModReplace) => string | undefined,
): string[] {
  return parseGoModReplaces(goMod).map((replace) => {
    const from = replace.moduleVersion ? `${replace.module}@${replace.moduleVersion}` : replace.module
    if (replace.targetVersion) return `-replace=${from}=${replace.target}@${replace.targetVersion}`
    const published = local(replace)
    if (!published) {
      throw new BootstrapError(
        `no published module stands for the local replace ${replace.module} => ${replace.target}`,
        {
          hint: 'the upstream go.mod changed shape: extend the mapping in lib/tools/build/go-mod.ts',
        },
      )
    }
    return `-replace=${from}=${published}`
  })
}

/** k8s.io/kubernetes: each staging module (`=> ./staging/src/k8s.io/X`) is published as X@v0.<minor>.<patch>. */
export function kubernetesReplaceArgs(goMod: string, kubernetesVersion: string): string[] {
  const staging = kubernetesVersion.replace(/^v1\./, 'v0.')
  return wrapperReplaceArgs(goMod, (replace) =>
    replace.target.startsWith('./staging/src/') ? `${replace.module}@${staging}` : undefined,
  )
}

/** Argo CD: versioned replaces are copied; its in-repo modules (gitops-engine) are published at the same tag. */
export function argocdReplaceArgs(goMod: string, argocdVersion: string): string[] {
  return wrapperReplaceArgs(goMod, (replace) =>
    replace.module.startsWith('github.com/argoproj/argo-cd/')
      ? `${replace.module}@${argocdVersion}`
      : undefined,
  )
}

/** The version a go.mod requires of a module (ignores replaces). */
export function goModRequire(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return goMod.match(new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm'))?.[1]
}
