import { defaultSopsDeps, runSopsOn, type SopsDeps, type SopsRunOptions } from './binary.ts'

/**
 * `sops updatekeys`: the file's data key encrypted anew for the recipients its .sops.yaml rule
 * names now (the values are not re-encrypted). Needs a key that decrypts the file.
 */
export async function updateKeys(
  file: string,
  options: SopsRunOptions = {},
  deps: SopsDeps = defaultSopsDeps,
): Promise<void> {
  await runSopsOn(file, 'update the keys of', ['updatekeys', '--yes', file], options, deps)
}
