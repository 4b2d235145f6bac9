import { describe, expect, it } from 'vitest'
import { fakeBao, memoryStore, ok } from '../../../tests/helpers/openbao-fakes.ts'
import { redactor } from '../../core/redact.ts'
import { InitValues } from './init-values.ts'
import { BaoRequests } from './requests.ts'

describe('BaoRequests', () => {
  it('sends the token in use unless one is given, and counts every request but GET', async () => {
    const bao = fakeBao({ 'GET sys/mounts': ok({ 'secret/': { type: 'kv' } }) })
    const requests = new BaoRequests(
      'http://127.0.0.1:8200',
      bao.call,
      'environments/local/openbao.sops.yaml',
    )
    expect(await requests.read('sys/mounts')).toEqual({ 'secret/': { type: 'kv' } })
    requests.useToken('admin-token-planted-0123456789', 'the admin token')
    await requests.read('sys/auth')
    await requests.must('PUT', 'sys/policies/acl/x', { policy: '' }, 'write policy x')
    await requests.send('PUT', 'sys/unseal', { key: 'k' }, { token: '' })
    expect(bao.calls.map((call) => call.token)).toEqual([
      '',
      'admin-token-planted-0123456789',
      'admin-token-planted-0123456789',
      '',
    ])
    expect(requests.writes).toBe(2)
    expect(redactor.mask('admin-token-planted-0123456789')).not.toContain('planted')
  })

  it('reads nothing once it assumes an empty OpenBao (a dry run before initialisation)', async () => {
    const bao = fakeBao({ 'GET sys/mounts': ok({ 'secret/': { type: 'kv' } }) })
    const requests = new BaoRequests('http://127.0.0.1:8200', bao.call, 'init.sops.yaml')
    requests.assumeEmpty()
    expect(requests.empty).toBe(true)
    expect(await requests.read('sys/mounts')).toBeUndefined()
    expect(bao.calls).toEqual([])
  })

  it('says which token was denied what, and how to get one back', async () => {
    const bao = fakeBao({ 'GET sys/auth': { status: 403, body: { errors: ['permission denied'] } } })
    const requests = new BaoRequests('http://127.0.0.1:8200', bao.call, 'environments/dev/openbao.sops.yaml')
    requests.useToken('t-0123456789abcdef', 'the admin token in environments/dev/openbao.sops.yaml')
    await expect(requests.read('sys/auth')).rejects.toThrow(
      'OpenBao at http://127.0.0.1:8200 denied the admin token in environments/dev/openbao.sops.yaml to read sys/auth (403 permission denied)',
    )
  })

  it('turns a connection failure into one error naming the request', async () => {
    const requests = new BaoRequests(
      'http://127.0.0.1:8200',
      async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8200'), { code: 'ECONNREFUSED' })
      },
      'init.sops.yaml',
    )
    await expect(requests.send('GET', 'sys/mounts')).rejects.toThrow(
      /OpenBao at http:\/\/127\.0\.0\.1:8200 stopped answering \(GET sys\/mounts: .*ECONNREFUSED/,
    )
  })
})

describe('InitValues', () => {
  it('writes the file only when a value changed, once per save, and never on a dry run', async () => {
    const store = memoryStore({ admin_token: 'a-0123456789abcdef' })
    const values = new InitValues(store, false)
    await values.load()
    expect(values.exists).toBe(true)
    values.set('admin_token', 'a-0123456789abcdef')
    await values.save()
    expect(store.writes).toEqual([])

    values.set('root_token', undefined)
    values.set('generated__grafana__admin', 'g-0123456789abcdef')
    await values.save()
    await values.save()
    expect(store.writes).toEqual([
      { admin_token: 'a-0123456789abcdef', generated__grafana__admin: 'g-0123456789abcdef' },
    ])
    expect(values.writes).toBe(1)
    expect(redactor.mask('g-0123456789abcdef')).not.toContain('0123456789')

    const dry = new InitValues(store, true)
    await dry.load()
    dry.set('admin_token', 'b-0123456789abcdef')
    await dry.save()
    expect(store.writes).toHaveLength(1)
    expect(dry.get('admin_token')).toBe('b-0123456789abcdef')
  })

  it('knows a missing file from an empty one, and exists once written', async () => {
    const values = new InitValues(memoryStore(), false)
    await values.load()
    expect(values.exists).toBe(false)
    expect(values.keys()).toEqual([])
    values.set('initialized_at', '2026-12-06T00:00:00.000Z')
    await values.save()
    expect(values.exists).toBe(true)
  })
})
