import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BootstrapError } from '../core/errors.ts'
import { loadConfig } from '../runner/config.ts'
import type { Context } from '../runner/context.ts'
import { assertContext, existingProvider } from './existing.ts'

// Only the context check is under test: the chart install and the port-forward are not loaded.

const staging = { env: loadConfig('staging') }

function refusal(current: string, known: string[], ctx = staging): BootstrapError {
  try {
    assertContext(ctx, current, known)
  } catch (error) {
    expect(error).toBeInstanceOf(BootstrapError)
    return error as BootstrapError
  }
  throw new Error('expected assertContext to refuse')
}

describe('assertContext', () => {
  it('uses the context staging names', () => {
    expect(staging.env.cluster.context).toBe('platform-staging')
  })

  it('passes when the current context is the one the environment names', () => {
    expect(() =>
      assertContext(staging, 'platform-staging', ['kind-platform-dev', 'platform-staging']),
    ).not.toThrow()
  })

  it('refuses a wrong current context, naming both and how to switch', () => {
    const error = refusal('platform-prod', ['platform-prod', 'platform-staging'])
    expect(error.message).toBe(
      'the current kube context is "platform-prod", but environment staging runs against "platform-staging"',
    )
    expect(error.hint).toBe('switch deliberately: kubectl config use-context platform-staging')
    expect(error.exitCode).toBe(2)
  })

  it('refuses a context that is not in the kubeconfig, listing those that are', () => {
    const error = refusal('kind-platform-dev', ['kind-platform-dev', 'minikube'])
    expect(error.message).toContain('kube context "platform-staging"')
    expect(error.message).toContain(staging.env.file)
    expect(error.message).toContain('is not in your kubeconfig')
    expect(error.hint).toBe('contexts there: kind-platform-dev, minikube')
    expect(error.exitCode).toBe(2)
    expect(refusal('', []).hint).toBe('contexts there: none')
  })

  it('refuses even when the current context is the wanted one but the kubeconfig lacks it', () => {
    expect(refusal('platform-staging', ['minikube']).message).toContain('is not in your kubeconfig')
  })
})

describe('existing provider access', () => {
  const kubeconfig = (current: string) => `apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: { server: https://127.0.0.1:1 }
users:
  - name: u
    user: { token: not-a-real-token }
contexts:
  - name: platform-staging
    context: { cluster: c, user: u }
  - name: platform-prod
    context: { cluster: c, user: u }
current-context: ${current}
`
  const withKubeconfig = (current: string, body: () => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-existing-'))
    const saved = process.env.KUBECONFIG
    process.env.KUBECONFIG = join(dir, 'config')
    writeFileSync(process.env.KUBECONFIG, kubeconfig(current))
    try {
      body()
    } finally {
      process.env.KUBECONFIG = saved
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const ctx = { env: loadConfig('staging') } as unknown as Context

  it('guards every step, not only 00: access refuses another current context', () => {
    withKubeconfig('platform-prod', () => {
      expect(() => existingProvider.access(ctx)).toThrow(/current kube context is "platform-prod"/)
    })
  })

  it('names the environment context when the current one matches', () => {
    withKubeconfig('platform-staging', () => {
      expect(existingProvider.access(ctx)).toEqual({
        kubeconfig: process.env.KUBECONFIG,
        context: 'platform-staging',
      })
    })
  })

  it('destroy refuses without --force and touches nothing', async () => {
    const refused = await existingProvider
      .destroy({ ...ctx, flags: { dryRun: false, force: false, rotate: [] } } as Context)
      .catch((error: BootstrapError) => error)
    expect(refused).toBeInstanceOf(BootstrapError)
    expect((refused as BootstrapError).hint).toMatch(/just destroy staging --force/)
  })
})
