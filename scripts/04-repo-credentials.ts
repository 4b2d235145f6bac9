import { applyAll } from '../lib/apply.ts'
import { main } from '../lib/cli.ts'
import { repositorySecret } from '../lib/manifests.ts'
import { defineStep } from '../lib/step.ts'

/** One repository Secret per repo Argo CD pulls from: the platform repo and each tenant's. */
export const step = defineStep({
  id: '04',
  name: 'repo-credentials',
  summary: 'a repository Secret for the platform repo and each tenant repo',
  async run(ctx) {
    const { values } = await ctx.secrets()
    const source = await ctx.provider.gitopsSource(ctx)
    const { platformRepo, tenantRepos } = ctx.env.gitops
    const ns = ctx.env.argocd.namespace
    await applyAll(ctx, [
      repositorySecret(
        'repo-platform-gitops',
        ns,
        platformRepo,
        values[platformRepo.passwordField] ?? '',
        source.platformURL,
      ),
      ...Object.entries(tenantRepos).map(([tenant, repo]) =>
        repositorySecret(
          `repo-tenant-${tenant}`,
          ns,
          repo,
          values[repo.passwordField] ?? '',
          source.tenantURLs[tenant],
        ),
      ),
    ])
  },
})

if (import.meta.main) await main([step])
