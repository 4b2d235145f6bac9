import { main } from '../lib/cli.ts'
import { repositorySecrets } from '../lib/manifests.ts'
import { defineStep } from '../lib/step.ts'

/** One repository Secret per repo Argo CD pulls from: the platform repo and each tenant's. */
export const step = defineStep({
  id: '04',
  name: 'repo-credentials',
  summary: 'a repository Secret for the platform repo and each tenant repo',
  async objects(ctx) {
    const { values } = await ctx.secrets()
    return repositorySecrets(ctx.env, values, await ctx.source())
  },
})

if (import.meta.main) await main([step])
