import { chmodSync, chownSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import type { RunAs } from '../process/processes.ts'

/** The longest unix socket path the kernel takes (sun_path is 108 bytes with its NUL; 104 on some). */
const MAX_SOCKET_PATH = 100

/**
 * A unix socket's path in its own 0700 folder of the node (`nodeDir/folder/file`), which only Argo
 * CD's processes' user (and root) can pass: no other user can listen there before the process
 * does, nor connect to it. The folder is made here; the process makes the socket.
 */
export function privateSocket(
  nodeDir: string,
  folder: string,
  file: string,
  runAs: RunAs | undefined,
): string {
  const dir = join(nodeDir, folder)
  mkdirSync(nodeDir, { recursive: true, mode: 0o755 })
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  if (runAs) chownSync(dir, runAs.uid, runAs.gid)
  const socket = join(dir, file)
  if (socket.length > MAX_SOCKET_PATH)
    throw new BootstrapError(
      `the socket path ${socket} is ${socket.length} bytes: unix sockets take ${MAX_SOCKET_PATH} at most`,
      { hint: 'use a shorter state folder ($PLATFORM_STATE_DIR)', exitCode: 2 },
    )
  return socket
}
