import { step as cluster } from './00-cluster.ts'
import { step as secrets } from './01-secrets.ts'
import { step as namespaces } from './02-namespaces.ts'
import { step as ageKey } from './03-age-key.ts'
import { step as repoCredentials } from './04-repo-credentials.ts'
import { step as bootstrapSecrets } from './05-bootstrap-secrets.ts'
import { step as argocd } from './06-argocd.ts'
import { step as rootApp } from './07-root-app.ts'
import { step as converge } from './08-converge.ts'
import { step as openbaoSetup } from './09-openbao-setup.ts'

/** The runbook, in the order that avoids the known start-up races (see README). */
export const steps = [
  cluster,
  secrets,
  namespaces,
  ageKey,
  repoCredentials,
  bootstrapSecrets,
  argocd,
  rootApp,
  converge,
  openbaoSetup,
]
