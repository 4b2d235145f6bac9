import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Tool } from './catalogue.ts'
import type { ToolDeps } from './deps.ts'
import { recipeOf } from './recipes.ts'
import { findOnPath, isExecutable, searchPath } from './which.ts'

/** Looking at what is already there (a tool folder, or PATH): complete, and the pinned version? */

/** Whether a tool folder holds every binary and file the tool needs. */
export function isComplete(tool: Tool, dir: string): boolean {
  const files = recipeOf(tool).files ?? []
  return (
    tool.binaries.every((bin) => isExecutable(join(dir, bin))) &&
    files.every((file) => existsSync(join(dir, file)))
  )
}

/** `v1.36.3` matches "Kubernetes v1.36.3" and "etcd Version: 1.36.3", not v1.36.30 or v11.36.3. */
export function versionMatches(output: string, version: string): boolean {
  const bare = version.replace(/^v/, '').replace(/\./g, '\\.')
  return new RegExp(`(^|[^\\w.])v?${bare}(?![\\w.]*\\d)`).test(output)
}

function firstVersion(output: string): string | undefined {
  return output.match(/v?\d+\.\d+(\.\d+)?[\w.+-]*/)?.[0]
}

interface VersionCheck {
  ok: boolean
  /** What the binary said (first version-looking word, or its first line). */
  found: string
}

async function checkVersion(tool: Tool, binary: string, file: string, deps: ToolDeps): Promise<VersionCheck> {
  const recipe = recipeOf(tool)
  const args = recipe.versionArgs?.[binary] ?? ['--version']
  const result = await deps.run(file, args, { env: deps.env, timeoutMs: 20_000 })
  const output = `${result.stdout}\n${result.stderr}`
  const found = firstVersion(output) ?? output.trim().split('\n')[0] ?? ''
  if (result.exitCode !== 0) return { ok: false, found: `exit ${result.exitCode}: ${found}`.trim() }
  return { ok: recipe.presenceOnly === true || versionMatches(output, tool.version), found }
}

export async function checkAll(tool: Tool, dir: string | undefined, deps: ToolDeps) {
  const checks: Record<string, VersionCheck & { file: string }> = {}
  for (const binary of tool.binaries) {
    const file = dir ? join(dir, binary) : findOnPath(binary, searchPath(deps))
    if (!file || !isExecutable(file)) return { ok: false, checks, missing: binary }
    checks[binary] = { ...(await checkVersion(tool, binary, file, deps)), file }
    if (!checks[binary].ok) return { ok: false, checks, wrong: binary }
  }
  return { ok: true, checks }
}
