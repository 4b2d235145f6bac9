import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { ProcessError } from '../core/errors.ts'
import { defaultSopsDeps, keyFileOf, runSops, type SopsDeps, type SopsRunOptions } from './binary.ts'
import { explainFailure } from './explain.ts'

/**
 * `sops <file>` with the terminal handed over: sops decrypts into its editor ($SOPS_EDITOR, else
 * $EDITOR) and encrypts what was saved. A file that does not exist yet is created with the keys of
 * its .sops.yaml rule.
 */
export async function edit(
  file: string,
  options: Omit<SopsRunOptions, 'terse'> = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<'changed' | 'unchanged' | 'created'> {
  const existed = existsSync(resolve(options.cwd ?? '.', file))
  try {
    await runSops([file], { ...options, interactive: true }, deps)
  } catch (error) {
    // sops exits 200 when the editor closed without a change.
    if (error instanceof ProcessError && error.code === 200) return 'unchanged'
    throw await explainFailure(error, {
      file,
      action: existed ? 'edit' : 'create',
      keyFile: keyFileOf(options, deps),
      cwd: options.cwd,
    })
  }
  return existed ? 'changed' : 'created'
}
