import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  writeSync,
} from 'node:fs'
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writing a file so that a reader (or a run that crashed half-way) sees the old content or the new,
 * never half of either: the bytes go to a fresh file beside the target, created with its final mode
 * before any byte lands (a key is never readable by others, not even for a moment), flushed, then
 * renamed over the target. The temp name is random and opened exclusively, so two writers never
 * share one. On failure the temp file is removed and the target is untouched.
 *
 * A target that already holds these bytes with this mode is left as it is: a run with nothing to
 * change writes nothing, and a file a running process reads is never swapped under it for a copy.
 */
export async function writeFileAtomic(
  file: string,
  content: string | Uint8Array,
  mode: number,
): Promise<void> {
  const current = await lstat(file).catch(() => undefined)
  if (current && holds(current, content, mode) && sameBytes(await readFile(file), content)) return
  await mkdir(dirname(file), { recursive: true })
  const temp = tempBeside(file)
  try {
    await writeNewFile(temp, content, mode)
    await rename(temp, file)
  } finally {
    await rm(temp, { force: true })
  }
}

/**
 * Creates `file`, failing with EEXIST if it exists (never replaces one), with exactly `mode` from
 * its first byte, and flushes it to disk.
 */
export async function writeNewFile(file: string, content: string | Uint8Array, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode)
  try {
    // The umask can only narrow the mode given to open; set it explicitly so it is exactly `mode`.
    await handle.chmod(mode)
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The same for the synchronous code paths (certificate and config files of the local stack). */
export function writeFileAtomicSync(file: string, content: string | Uint8Array, mode: number): void {
  const current = lstatOrUndefined(file)
  if (current && holds(current, content, mode) && sameBytes(readFileSync(file), content)) return
  mkdirSync(dirname(file), { recursive: true })
  const temp = tempBeside(file)
  try {
    const fd = openSync(temp, 'wx', mode)
    try {
      chmodSync(temp, mode)
      const bytes = typeof content === 'string' ? Buffer.from(content) : content
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, file)
  } finally {
    rmSync(temp, { force: true })
  }
}

/** A regular file (not a link to one) of this mode and size: worth reading to compare. */
function holds(stat: Stats, content: string | Uint8Array, mode: number): boolean {
  const size = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength
  return stat.isFile() && (stat.mode & 0o7777) === mode && stat.size === size
}

function sameBytes(current: Buffer, content: string | Uint8Array): boolean {
  return current.equals(typeof content === 'string' ? Buffer.from(content) : content)
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file)
  } catch {
    return undefined
  }
}

function tempBeside(file: string): string {
  return join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
}
