import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../../core/errors.ts'

/** The Debian mirror apt uses on this machine: debootstrap fetches from it and nowhere else. */

/** The first main-archive URI of deb822 `.sources` text or one-line `sources.list` text (not security). */
export function mirrorFrom(text: string): string | undefined {
  const uris = [
    ...[...text.matchAll(/^URIs:\s*(\S+)/gim)].map((m) => m[1]),
    ...[...text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/gm)].map((m) => m[1]),
  ].filter((uri): uri is string => Boolean(uri))
  return uris.find((uri) => !/security/.test(uri)) ?? uris[0]
}

export function aptMirror(etc = '/etc/apt'): string {
  const files = [
    ...(existsSync(join(etc, 'sources.list.d'))
      ? readdirSync(join(etc, 'sources.list.d'))
          .filter((file) => file.endsWith('.sources') || file.endsWith('.list'))
          .sort()
          .map((file) => join(etc, 'sources.list.d', file))
      : []),
    join(etc, 'sources.list'),
  ].filter((file) => existsSync(file))
  for (const file of files) {
    const mirror = mirrorFrom(readFileSync(file, 'utf8'))
    if (mirror) return mirror.replace(/\/+$/, '')
  }
  throw new BootstrapError(`no Debian mirror found in ${etc}/sources.list.d or ${etc}/sources.list`, {
    hint: 'debootstrap builds the offline kind images from the mirror apt uses: configure apt (a Debian machine), then run `just tools` again',
  })
}
