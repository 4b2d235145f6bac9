import { describe, expect, it } from 'vitest'
import { apps } from '../../../tests/helpers/openbao-fakes.ts'
import { BootstrapError } from '../../core/errors.ts'
import { parseRotations, randomSecret } from './secrets.ts'

describe('--rotate', () => {
  it('takes <app>/<field> of configured secrets, once each', () => {
    expect(
      parseRotations(
        ['grafana/admin-password', 'harbor/cloudflare-api-token', 'grafana/admin-password'],
        apps,
      ),
    ).toEqual([
      { app: 'grafana', field: 'admin-password' },
      { app: 'harbor', field: 'cloudflare-api-token' },
    ])
    expect(parseRotations([], apps)).toEqual([])
  })

  it.each([
    ['grafana', 'expected <app>/<field>'],
    ['/admin-password', 'expected <app>/<field>'],
    ['grafana/', 'expected <app>/<field>'],
    ['gitea/admin-password', 'no app "gitea"'],
    ['grafana/password', 'app grafana has no secret field "password"'],
  ])('refuses %s, listing what can be rotated', (spec, message) => {
    let error: unknown
    try {
      parseRotations([spec], apps)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toContain(message)
    expect((error as BootstrapError).exitCode).toBe(2)
    expect((error as BootstrapError).hint).toBe(
      'configured secrets: grafana/admin-password, harbor/admin-password, harbor/cloudflare-api-token',
    )
  })
})

describe('randomSecret', () => {
  it('gives the asked length of letters and digits, differently each time', () => {
    const a = randomSecret(32)
    expect(a).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(randomSecret(256)).toHaveLength(256)
    expect(randomSecret(32)).not.toBe(a)
  })
})
