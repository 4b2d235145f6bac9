/**
 * Private keys in committable text, whatever the file: a key pasted into code, a fixture or a
 * note is committed as surely as a key file, so secrets-check reads every file for them.
 */

export interface KeyHit {
  line: number
  kind: string
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const AGE_IDENTITY = /AGE-SECRET-KEY-(?:PQ-)?1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58,}/g
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----/
const PEM_ESCAPED =
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\r)?\\n((?:[A-Za-z0-9+/=]+(?:\\r)?\\n)+)-----END /

/**
 * Private keys in a text: age identities whose bech32 checksum holds (so a made-up placeholder
 * is not one), and PEM private key blocks with a real base64 body, as a key file has it or as a
 * JSON string with \n escapes. Hits carry a line number and a kind, never the key.
 */
export function findPrivateKeys(text: string): KeyHit[] {
  if (!text.includes('AGE-SECRET-KEY-') && !text.includes('PRIVATE KEY')) return []
  const hits: KeyHit[] = []
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    for (const match of line.matchAll(AGE_IDENTITY)) {
      if (bech32Valid(match[0])) {
        hits.push({ line: index + 1, kind: 'holds an age private key (AGE-SECRET-KEY-1…)' })
        break
      }
    }
    const begin = PEM_BEGIN.exec(line)
    if (!begin) continue
    const escaped = PEM_ESCAPED.exec(line)
    if (escaped && (escaped[1] ?? '').replace(/\\[rn]/g, '').length >= 64) {
      hits.push({ line: index + 1, kind: `holds a PEM ${begin[1] ?? ''}private key` })
      continue
    }
    if (pemBodyFollows(lines, index + 1))
      hits.push({ line: index + 1, kind: `holds a PEM ${begin[1] ?? ''}private key` })
  }
  return hits
}

/** Whether the lines after a BEGIN line are a key's body: base64 (and PEM headers) up to an END line. */
function pemBodyFollows(lines: string[], from: number): boolean {
  let base64 = 0
  for (let i = from; i < Math.min(lines.length, from + 400); i++) {
    const line = (lines[i] ?? '').trim()
    if (/^-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----$/.test(line)) return base64 >= 64
    if (line === '' || /^[A-Za-z-]+: /.test(line)) continue
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line) && !/^=[A-Za-z0-9+/]{4}$/.test(line)) return false
    base64 += line.length
  }
  return false
}

function bech32Valid(text: string): boolean {
  const lower = text.toLowerCase()
  const at = lower.lastIndexOf('1')
  if (at < 1) return false
  const hrp = lower.slice(0, at)
  const data: number[] = []
  for (const c of lower.slice(at + 1)) {
    const v = BECH32.indexOf(c)
    if (v < 0) return false
    data.push(v)
  }
  const values = [
    ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
    0,
    ...[...hrp].map((c) => c.charCodeAt(0) & 31),
    ...data,
  ]
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
  let chk = 1
  for (const v of values) {
    const top = chk >>> 25
    chk = ((chk & 0x1ffffff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i] as number
  }
  chk >>>= 0
  return chk === 1 || chk === 0x2bc830a3
}
