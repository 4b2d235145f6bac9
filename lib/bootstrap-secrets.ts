/**
 * The runbook's entry to bootstrap secrets: the types steps see, without the Vault and
 * SOPS machinery behind them. Resolution (Vault first, SOPS filling the gaps) is in vault.ts.
 */
export {
  type ResolvedSecrets,
  type ResolveDeps,
  type ResolveOptions,
  resolveBootstrapSecrets,
  type SecretSource,
  type VaultOptions,
} from './vault.ts'
