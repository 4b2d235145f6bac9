import { describe, expect, it } from 'vitest'
import { MASK, Redactor } from './redact.ts'

const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgR2V0IHlvdXIgb3du',
  'IGtleSwgdGhpcyBpcyBhIHRlc3QgdmFsdWUgb25seS4uLi4uLi4uLi4uLi4uLi4u',
  'short',
  '-----END PRIVATE KEY-----',
  '',
].join('\n')

describe('Redactor', () => {
  it('masks a registered value wherever it appears', () => {
    const r = new Redactor()
    r.add('ghp_plantedToken123')
    expect(r.mask('token=ghp_plantedToken123 and again ghp_plantedToken123.')).toBe(
      `token=${MASK} and again ${MASK}.`,
    )
    expect(r.mask('nothing to hide here')).toBe('nothing to hide here')
  })

  it('masks the base64 form of a value (Secret data)', () => {
    const r = new Redactor()
    r.add('s3cr3t-password')
    const encoded = Buffer.from('s3cr3t-password').toString('base64')
    expect(r.mask(`data:\n  password: ${encoded}\n`)).toBe(`data:\n  password: ${MASK}\n`)
  })

  it('masks the trimmed form of a value with surrounding whitespace', () => {
    const r = new Redactor()
    r.add('  padded-secret-value\n')
    expect(r.mask('value: padded-secret-value')).toBe(`value: ${MASK}`)
  })

  it('masks each long line of a PEM value on its own, not the short ones', () => {
    const r = new Redactor()
    r.add(PEM)
    const lines = PEM.split('\n')
    // The whole value, as printed in one piece.
    expect(r.mask(`key:\n${PEM}`)).toBe(`key:\n${MASK}`)
    // One body line, quoted alone (a tool printing it line by line).
    expect(r.mask(`error near ${lines[1]}`)).toBe(`error near ${MASK}`)
    expect(r.mask(`> ${lines[2]} <`)).toBe(`> ${MASK} <`)
    // The armour lines are long too; a short line is left alone.
    expect(r.mask(lines[0] as string)).toBe(MASK)
    expect(r.mask('short')).toBe('short')
  })

  it('masks the longest value first, so one that contains another is masked whole', () => {
    const r = new Redactor()
    r.add('inner-secret')
    r.add('outer-inner-secret-suffix')
    expect(r.mask('got outer-inner-secret-suffix')).toBe(`got ${MASK}`)
    expect(r.mask('got inner-secret')).toBe(`got ${MASK}`)
  })

  it('masks nothing when nothing is registered, or only empty and short values', () => {
    const r = new Redactor()
    expect(r.size).toBe(0)
    expect(r.mask('any text at all')).toBe('any text at all')
    r.add('')
    r.add(undefined)
    r.addAll(['', undefined])
    expect(r.size).toBe(0)
    expect(r.mask('')).toBe('')
  })

  it('refuses values too short to be a secret, so ordinary words and printed commands stay whole', () => {
    const r = new Redactor()
    // A dev root token and YAML-ish scalars: masked as substrings they would mangle everything.
    for (const short of ['root', 'true', 'null', '0123', '7 chars']) expect(r.add(short), short).toBe(false)
    expect(r.size).toBe(0)
    const hint = 'kubectl --kubeconfig /root/.cache/x get applications root-app # nullable: true, 0123'
    expect(r.mask(hint)).toBe(hint)
    expect(r.add('8-chars!')).toBe(true)
    expect(r.mask('a 8-chars! b')).toBe(`a ${MASK} b`)
  })

  it('registers several values at once', () => {
    const r = new Redactor()
    r.addAll(['first-value', undefined, 'second-value'])
    expect(r.mask('first-value second-value')).toBe(`${MASK} ${MASK}`)
  })
})
