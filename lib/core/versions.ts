/**
 * Every external binary, chart and image the project runs, pinned in one place:
 * upgrading one is a one-line change here. The local control plane, kubectl and the kind
 * node image share one Kubernetes version so the local tier proves what kind runs.
 */
export const versions = {
  kubernetes: 'v1.36.4',
  kindNodeImage:
    'kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed',
  kind: 'v0.33.0',
  etcd: 'v3.6.16',
  kustomize: 'v5.8.1',
  kwok: 'v0.8.0',
  helm: 'v3.22.0',
  sops: 'v3.13.3',
  age: 'v1.2.1',
  openbao: '2.7.2',
  argocd: 'v3.6.1',
  actionlint: 'v1.7.12',
  /** Debian's package: whatever the distribution ships, checked only for presence. */
  redis: 'debian',
  /** Helm charts used on kind and existing clusters (the local provider runs the binaries above). */
  charts: {
    /** Its own appVersion is older: helmValues() sets the image tag to `argocd` above. */
    argocd: { repo: 'https://argoproj.github.io/argo-helm', name: 'argo-cd', version: '10.1.1' },
    openbao: { repo: 'https://openbao.github.io/openbao-helm', name: 'openbao', version: '0.26.0' },
    secretsStoreCsiDriver: {
      repo: 'https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts',
      name: 'secrets-store-csi-driver',
      version: '1.5.4',
    },
  },
  /** Images the runbook itself names on kind and existing clusters (the charts name the rest). */
  images: {
    ksopsInit: 'viaductoss/ksops:v4.5.1',
    /** The charts mirror's HTTP server (lib/helm/chart-mirror.ts) and the example secret consumers. */
    busybox: 'busybox:1.37.0',
  },
  /** Go toolchain needed by modules that require Go 1.27 (fetched by the go command from the module proxy). */
  goToolchain: 'go1.27.3',
} as const

export type Versions = typeof versions
