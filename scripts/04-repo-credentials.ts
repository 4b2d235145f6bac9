import { describeRef } from '../lib/kube/client.ts'
import {
  MANAGED_BY_SELECTOR,
  REPOSITORY_SECRET_NAMES,
  REPOSITORY_SECRET_SELECTOR,
  repositorySecrets,
} from '../lib/kube/manifests.ts'
import { main } from '../lib/runner/cli.ts'
import { defineStep } from '../lib/runner/step.ts'

/**
 * One repository Secret per repo Argo CD pulls from: the platform repo and each tenant's. A
 * repository Secret this runbook made for a repository no longer configured (`just tenant
 * remove`) is deleted: its credential has nothing left to do in the cluster.
 */
export const step = defineStep({
  id: '04',
  name: 'repo-credentials',
  summary: 'a repository Secret for the platform repo and each tenant repo, and none for a repo gone',
  async objects(ctx) {
    const { values } = await ctx.secrets()
    return repositorySecrets(ctx.env, values, await ctx.source())
  },
  async run(ctx) {
    const kube = await ctx.kube()
    const wanted = new Set(REPOSITORY_SECRET_NAMES.of(ctx.env))
    const found = await kube.list(
      'v1',
      'Secret',
      ctx.env.argocd.namespace,
      `${MANAGED_BY_SELECTOR},${REPOSITORY_SECRET_SELECTOR}`,
    )
    for (const secret of found.filter((s) => !wanted.has(s.metadata.name))) {
      // A list's items carry no kind: the reference is made whole here.
      const ref = {
        apiVersion: 'v1',
        kind: 'Secret',
        name: secret.metadata.name,
        namespace: ctx.env.argocd.namespace,
      }
      const what = describeRef(ref)
      if (ctx.flags.dryRun) {
        ctx.log.detail(`${what}: would be deleted (its repository is no longer in ${ctx.env.name}'s config)`)
        continue
      }
      await kube.delete(ref)
      ctx.changed?.add(what)
      ctx.log.detail(`${what}: deleted (its repository is no longer in ${ctx.env.name}'s config)`)
    }
  },
})

if (import.meta.main) await main([step])
