import { expect } from 'vitest'
import { BootstrapError } from '../../lib/core/errors.ts'

/** The BootstrapError a promise (or a function) rejects with; fails the test if it resolves or throws anything else. */
export async function caught(promise: Promise<unknown> | (() => unknown)): Promise<BootstrapError> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    expect(error).toBeInstanceOf(BootstrapError)
    return error as BootstrapError
  }
  throw new Error('expected a BootstrapError')
}
