import type { Provider } from '../config.ts'
import { existingProvider } from './existing.ts'
import { kindProvider } from './kind.ts'
import { localProvider } from './local.ts'
import type { ClusterProvider } from './provider.ts'

export function providerFor(name: Provider): ClusterProvider {
  return { kind: kindProvider, existing: existingProvider, local: localProvider }[name]
}
