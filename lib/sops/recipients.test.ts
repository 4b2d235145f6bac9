import { describe, expect, it } from 'vitest'
import { BootstrapError } from '../core/errors.ts'
import { recipientsIn } from './recipients.ts'

// The metadata as sops writes it (recipients are public keys; no encrypted data key is needed to read them).
const age = (...recipients: string[]) =>
  recipients.map((r) => `        - recipient: ${r}\n          enc: x\n`).join('')

describe('recipientsIn', () => {
  it('reads the top-level age list', () => {
    const text = `A: ENC[x]\nsops:\n    age:\n${age('age1team', 'age1cluster')}    mac: ENC[x]\n`
    expect(recipientsIn(text, 'a.sops.yaml')).toEqual(['age1team', 'age1cluster'])
  })

  it('reads every key group, and every document, each recipient once', () => {
    const groups = `sops:\n    key_groups:\n        - age:\n${age('age1team').replace(/^ {8}/gm, '            ')}        - age:\n${age('age1cluster', 'age1team').replace(/^ {8}/gm, '            ')}`
    const text = `a: ENC[x]\n${groups}---\nb: ENC[x]\nsops:\n    age:\n${age('age1other')}`
    expect(recipientsIn(text, 'a.secret.yaml')).toEqual(['age1team', 'age1cluster', 'age1other'])
  })

  it('reads dotenv files, key groups included', () => {
    const text = [
      'A=ENC[x]',
      'sops_age__list_0__map_recipient=age1team',
      'sops_key_groups__list_0__map_age__list_0__map_recipient=age1cluster',
      'sops_key_groups__list_1__map_age__list_0__map_recipient=age1team',
      'sops_mac=ENC[x]',
      '',
    ].join('\n')
    expect(recipientsIn(text, 'bootstrap.sops.env')).toEqual(['age1team', 'age1cluster'])
  })

  it('reads JSON, and refuses a file without sops metadata or one that does not parse', () => {
    expect(recipientsIn('{"A":"ENC[x]","sops":{"age":[{"recipient":"age1team"}]}}', 'a.json')).toEqual([
      'age1team',
    ])
    for (const [text, name] of [
      ['A: plain\n', 'a.yaml'],
      ['A: [unclosed\n', 'a.yaml'],
      ['A=plain\n', 'a.env'],
    ] as const) {
      expect(() => recipientsIn(text, name)).toThrow(BootstrapError)
      expect(() => recipientsIn(text, name)).toThrow(/is not a SOPS-encrypted file/)
    }
  })
})
