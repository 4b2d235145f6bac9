import { main } from '../lib/cli.ts'
import { steps } from './steps.ts'

// `just create [env] [--from NN] [--step NN] [--dry-run]`
await main(steps)
