/**
 * The pinned tools: what they are, where they live in the cache, how they are installed, and what
 * this machine has of them. The public API of lib/tools/; import it from here. The runbook's own
 * lookups (where a tool is, the files a tool brings) import catalogue.ts and artifacts.ts directly:
 * this index loads the whole installer, which a `create` with every tool cached never needs.
 */
export { argocdCrdFiles, kwokStageFiles } from './artifacts.ts'
export { checksumFor } from './build/download.ts'
export {
  argocdReplaceArgs,
  type GoModReplace,
  goModRequire,
  kubernetesReplaceArgs,
  parseGoModReplaces,
  wrapperReplaceArgs,
} from './build/go-mod.ts'
export { selectTools, type Tool, toolDir, toolLogFile, tools, toolsPath } from './catalogue.ts'
export { versionMatches } from './check.ts'
export { defaultToolDeps, type Fetch, type ToolDeps } from './deps.ts'
export { type EnsureOptions, type EnsureResult, ensureTools } from './install.ts'
export type { SourceRecord, ToolSource } from './source.ts'
export { type ToolStatus, toolStatus } from './status.ts'
