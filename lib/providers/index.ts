import type { Provider } from '../runner/config.ts'
import type { ClusterProvider } from '../runner/context.ts'
import { existingProvider } from './existing.ts'
import { kindProvider } from './kind.ts'
import { localProvider } from './local.ts'

export function providerFor(name: Provider): ClusterProvider {
  return { kind: kindProvider, existing: existingProvider, local: localProvider }[name]
}
