import { describe, expect, it } from 'vitest'
import { loadConfig } from '../config.ts'
import { BootstrapError } from '../errors.ts'
import { assertContext } from './existing.ts'

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
