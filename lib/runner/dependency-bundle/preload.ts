import { resolve } from 'node:path'
import { loadDependencyBundle } from './load.ts'

// Preloaded by bunfig.toml for every `bun` run in the checkout (the recipes run there).
loadDependencyBundle(resolve(import.meta.dir, '..', '..', '..', 'node_modules'))
