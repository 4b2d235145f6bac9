/**
 * How the argo-cd chart (10.1.1, the one lib/core/versions.ts pins) turns Argo CD's settings ConfigMaps
 * into each container's environment: every `configMapKeyRef` of its application-controller,
 * repo-server and server templates, env var → key, all `optional: true` (a key the map lacks sets
 * nothing). Recorded from templates/argocd-{application-controller,repo-server,server}/*.yaml; the
 * local provider builds its processes' environment from the live ConfigMaps through these tables,
 * as the kubelet does from the chart's pod specs, so a setting the chart would ignore is ignored
 * here too.
 */

export type ArgoCDProcess = 'argocd-application-controller' | 'argocd-repo-server' | 'argocd-server'

/** From argocd-cm. */
export const FROM_ARGOCD_CM: Readonly<Record<ArgoCDProcess, Readonly<Record<string, string>>>> = {
  'argocd-application-controller': {
    ARGOCD_RECONCILIATION_TIMEOUT: 'timeout.reconciliation',
    ARGOCD_HARD_RECONCILIATION_TIMEOUT: 'timeout.hard.reconciliation',
    ARGOCD_RECONCILIATION_JITTER: 'timeout.reconciliation.jitter',
  },
  'argocd-repo-server': {
    ARGOCD_RECONCILIATION_TIMEOUT: 'timeout.reconciliation',
  },
  'argocd-server': {},
}

const REDIS = { REDIS_SERVER: 'redis.server', REDIS_COMPRESSION: 'redis.compression', REDISDB: 'redis.db' }

/** From argocd-cmd-params-cm. */
export const FROM_CMD_PARAMS: Readonly<Record<ArgoCDProcess, Readonly<Record<string, string>>>> = {
  'argocd-application-controller': {
    ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS: 'controller.repo.error.grace.period.seconds',
    ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER: 'repo.server',
    ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_TIMEOUT_SECONDS: 'controller.repo.server.timeout.seconds',
    ARGOCD_APPLICATION_CONTROLLER_STATUS_PROCESSORS: 'controller.status.processors',
    ARGOCD_APPLICATION_CONTROLLER_OPERATION_PROCESSORS: 'controller.operation.processors',
    ARGOCD_APPLICATION_CONTROLLER_LOGFORMAT: 'controller.log.format',
    ARGOCD_APPLICATION_CONTROLLER_LOGLEVEL: 'controller.log.level',
    ARGOCD_LOG_FORMAT_TIMESTAMP: 'log.format.timestamp',
    ARGOCD_APPLICATION_CONTROLLER_METRICS_CACHE_EXPIRATION: 'controller.metrics.cache.expiration',
    ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS: 'controller.self.heal.timeout.seconds',
    ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_TIMEOUT_SECONDS:
      'controller.self.heal.backoff.timeout.seconds',
    ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_FACTOR: 'controller.self.heal.backoff.factor',
    ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_CAP_SECONDS: 'controller.self.heal.backoff.cap.seconds',
    ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_COOLDOWN_SECONDS:
      'controller.self.heal.backoff.cooldown.seconds',
    ARGOCD_SYNC_WAVE_DELAY: 'controller.sync.wave.delay.seconds',
    ARGOCD_APPLICATION_CONTROLLER_SYNC_TIMEOUT: 'controller.sync.timeout.seconds',
    ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_PLAINTEXT: 'controller.repo.server.plaintext',
    ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_STRICT_TLS: 'controller.repo.server.strict.tls',
    ARGOCD_APPLICATION_CONTROLLER_PERSIST_RESOURCE_HEALTH: 'controller.resource.health.persist',
    ARGOCD_APP_STATE_CACHE_EXPIRATION: 'controller.app.state.cache.expiration',
    ...REDIS,
    ARGOCD_DEFAULT_CACHE_EXPIRATION: 'controller.default.cache.expiration',
    ARGOCD_APPLICATION_CONTROLLER_OTLP_ADDRESS: 'otlp.address',
    ARGOCD_APPLICATION_CONTROLLER_OTLP_INSECURE: 'otlp.insecure',
    ARGOCD_APPLICATION_CONTROLLER_OTLP_HEADERS: 'otlp.headers',
    ARGOCD_APPLICATION_CONTROLLER_OTLP_ATTRS: 'otlp.attrs',
    ARGOCD_APPLICATION_NAMESPACES: 'application.namespaces',
    ARGOCD_CONTROLLER_SHARDING_ALGORITHM: 'controller.sharding.algorithm',
    ARGOCD_APPLICATION_CONTROLLER_KUBECTL_PARALLELISM_LIMIT: 'controller.kubectl.parallelism.limit',
    ARGOCD_K8SCLIENT_RETRY_MAX: 'controller.k8sclient.retry.max',
    ARGOCD_K8SCLIENT_RETRY_BASE_BACKOFF: 'controller.k8sclient.retry.base.backoff',
    ARGOCD_APPLICATION_CONTROLLER_SERVER_SIDE_DIFF: 'controller.diff.server.side',
    ARGOCD_IGNORE_NORMALIZER_JQ_TIMEOUT: 'controller.ignore.normalizer.jq.timeout',
    ARGOCD_HYDRATOR_ENABLED: 'hydrator.enabled',
    ARGOCD_CLUSTER_CACHE_BATCH_EVENTS_PROCESSING: 'controller.cluster.cache.batch.events.processing',
    ARGOCD_CLUSTER_CACHE_EVENTS_PROCESSING_INTERVAL: 'controller.cluster.cache.events.processing.interval',
    ARGOCD_APPLICATION_CONTROLLER_COMMIT_SERVER: 'commit.server',
  },
  'argocd-repo-server': {
    ARGOCD_REPO_SERVER_LOGFORMAT: 'reposerver.log.format',
    ARGOCD_REPO_SERVER_LOGLEVEL: 'reposerver.log.level',
    ARGOCD_LOG_FORMAT_TIMESTAMP: 'log.format.timestamp',
    ARGOCD_REPO_SERVER_PARALLELISM_LIMIT: 'reposerver.parallelism.limit',
    ARGOCD_REPO_SERVER_LISTEN_ADDRESS: 'reposerver.listen.address',
    // The chart's name; the binary reads ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS, so this sets nothing.
    ARGOCD_REPO_SERVER_LISTEN_METRICS_ADDRESS: 'reposerver.metrics.listen.address',
    ARGOCD_REPO_SERVER_DISABLE_TLS: 'reposerver.disable.tls',
    ARGOCD_TLS_MIN_VERSION: 'reposerver.tls.minversion',
    ARGOCD_TLS_MAX_VERSION: 'reposerver.tls.maxversion',
    ARGOCD_TLS_CIPHERS: 'reposerver.tls.ciphers',
    ARGOCD_REPO_CACHE_EXPIRATION: 'reposerver.repo.cache.expiration',
    ...REDIS,
    ARGOCD_DEFAULT_CACHE_EXPIRATION: 'reposerver.default.cache.expiration',
    ARGOCD_REPO_SERVER_OTLP_ADDRESS: 'otlp.address',
    ARGOCD_REPO_SERVER_OTLP_INSECURE: 'otlp.insecure',
    ARGOCD_REPO_SERVER_OTLP_HEADERS: 'otlp.headers',
    ARGOCD_REPO_SERVER_OTLP_ATTRS: 'otlp.attrs',
    ARGOCD_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE:
      'reposerver.max.combined.directory.manifests.size',
    ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS: 'reposerver.plugin.tar.exclusions',
    ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS: 'reposerver.plugin.use.manifest.generate.paths',
    ARGOCD_REPO_SERVER_ALLOW_OUT_OF_BOUNDS_SYMLINKS: 'reposerver.allow.oob.symlinks',
    ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_TAR_SIZE: 'reposerver.streamed.manifest.max.tar.size',
    ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_EXTRACTED_SIZE:
      'reposerver.streamed.manifest.max.extracted.size',
    ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_EXTRACTED_SIZE: 'reposerver.helm.manifest.max.extracted.size',
    ARGOCD_REPO_SERVER_DISABLE_HELM_MANIFEST_MAX_EXTRACTED_SIZE:
      'reposerver.disable.helm.manifest.max.extracted.size',
    ARGOCD_GIT_MODULES_ENABLED: 'reposerver.enable.git.submodule',
    ARGOCD_GIT_LS_REMOTE_PARALLELISM_LIMIT: 'reposerver.git.lsremote.parallelism.limit',
    ARGOCD_GIT_REQUEST_TIMEOUT: 'reposerver.git.request.timeout',
    ARGOCD_REPO_SERVER_OCI_MANIFEST_MAX_EXTRACTED_SIZE: 'reposerver.oci.manifest.max.extracted.size',
    ARGOCD_REPO_SERVER_DISABLE_OCI_MANIFEST_MAX_EXTRACTED_SIZE:
      'reposerver.disable.oci.manifest.max.extracted.size',
    ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES: 'reposerver.oci.layer.media.types',
    ARGOCD_REVISION_CACHE_LOCK_TIMEOUT: 'reposerver.revision.cache.lock.timeout',
    ARGOCD_REPO_SERVER_ENABLE_BUILTIN_GIT_CONFIG: 'reposerver.enable.builtin.git.config',
    ARGOCD_GRPC_MAX_SIZE_MB: 'reposerver.grpc.max.size',
    ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES: 'reposerver.include.hidden.directories',
  },
  'argocd-server': {
    ARGOCD_SERVER_INSECURE: 'server.insecure',
    ARGOCD_SERVER_BASEHREF: 'server.basehref',
    ARGOCD_SERVER_ROOTPATH: 'server.rootpath',
    ARGOCD_SERVER_LOGFORMAT: 'server.log.format',
    ARGOCD_SERVER_LOG_LEVEL: 'server.log.level',
    ARGOCD_SERVER_REPO_SERVER: 'repo.server',
    ARGOCD_SERVER_DEX_SERVER: 'server.dex.server',
    ARGOCD_SERVER_DISABLE_AUTH: 'server.disable.auth',
    ARGOCD_SERVER_ENABLE_GZIP: 'server.enable.gzip',
    ARGOCD_SERVER_REPO_SERVER_TIMEOUT_SECONDS: 'server.repo.server.timeout.seconds',
    ARGOCD_SERVER_X_FRAME_OPTIONS: 'server.x.frame.options',
    ARGOCD_SERVER_CONTENT_SECURITY_POLICY: 'server.content.security.policy',
    ARGOCD_SERVER_REPO_SERVER_PLAINTEXT: 'server.repo.server.plaintext',
    ARGOCD_SERVER_REPO_SERVER_STRICT_TLS: 'server.repo.server.strict.tls',
    ARGOCD_SERVER_DEX_SERVER_PLAINTEXT: 'server.dex.server.plaintext',
    ARGOCD_SERVER_DEX_SERVER_STRICT_TLS: 'server.dex.server.strict.tls',
    ARGOCD_TLS_MIN_VERSION: 'server.tls.minversion',
    ARGOCD_TLS_MAX_VERSION: 'server.tls.maxversion',
    ARGOCD_TLS_CIPHERS: 'server.tls.ciphers',
    ARGOCD_SERVER_CONNECTION_STATUS_CACHE_EXPIRATION: 'server.connection.status.cache.expiration',
    ARGOCD_SERVER_OIDC_CACHE_EXPIRATION: 'server.oidc.cache.expiration',
    ARGOCD_SERVER_STATIC_ASSETS: 'server.staticassets',
    ARGOCD_APP_STATE_CACHE_EXPIRATION: 'server.app.state.cache.expiration',
    ...REDIS,
    ARGOCD_DEFAULT_CACHE_EXPIRATION: 'server.default.cache.expiration',
    ARGOCD_MAX_COOKIE_NUMBER: 'server.http.cookie.maxnumber',
    ARGOCD_SERVER_LISTEN_ADDRESS: 'server.listen.address',
    // The binary takes this variable as the metrics flag's *name*, not its value: never set the key.
    ARGOCD_SERVER_METRICS_LISTEN_ADDRESS: 'server.metrics.listen.address',
    ARGOCD_SERVER_OTLP_ADDRESS: 'otlp.address',
    ARGOCD_SERVER_OTLP_INSECURE: 'otlp.insecure',
    ARGOCD_SERVER_OTLP_HEADERS: 'otlp.headers',
    ARGOCD_SERVER_OTLP_ATTRS: 'otlp.attrs',
    ARGOCD_APPLICATION_NAMESPACES: 'application.namespaces',
    ARGOCD_SERVER_ENABLE_PROXY_EXTENSION: 'server.enable.proxy.extension',
    ARGOCD_K8SCLIENT_RETRY_MAX: 'server.k8sclient.retry.max',
    ARGOCD_K8SCLIENT_RETRY_BASE_BACKOFF: 'server.k8sclient.retry.base.backoff',
    ARGOCD_API_CONTENT_TYPES: 'server.api.content.types',
    ARGOCD_SERVER_WEBHOOK_PARALLELISM_LIMIT: 'server.webhook.parallelism.limit',
    ARGOCD_HYDRATOR_ENABLED: 'hydrator.enabled',
    ARGOCD_SYNC_WITH_REPLACE_ALLOWED: 'server.sync.replace.allowed',
  },
}

/**
 * Every key of the two ConfigMaps that some process reads. The chart also writes keys of processes
 * the local tier does not run (applicationset controller, dex, notifications, commit server).
 */
const KNOWN_KEYS = new Set(
  [...Object.values(FROM_CMD_PARAMS), ...Object.values(FROM_ARGOCD_CM)].flatMap((table) =>
    Object.values(table),
  ),
)

/** The keys of argocd-cmd-params-cm no process of the local tier reads: a typo, or a setting for a process it does not run. */
export function unreadParams(params: Record<string, string>): string[] {
  return Object.keys(params).filter((key) => !KNOWN_KEYS.has(key))
}

/** A process's environment from the two ConfigMaps, as the chart's configMapKeyRefs give it. */
export function envFromConfigMaps(
  process: ArgoCDProcess,
  maps: { cm: Record<string, string>; params: Record<string, string> },
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, key] of Object.entries(FROM_ARGOCD_CM[process]))
    if (maps.cm[key] !== undefined) env[name] = maps.cm[key]
  for (const [name, key] of Object.entries(FROM_CMD_PARAMS[process]))
    if (maps.params[key] !== undefined) env[name] = maps.params[key]
  return env
}

/**
 * The secretKeyRefs of the same three containers: REDIS_PASSWORD from Secret argocd-redis, key auth
 * (`optional: false`: a missing Secret keeps the pod from starting). The chart's redis-secret-init
 * Job makes that Secret once, before install (`argocd admin redis-initial-password`), and never
 * replaces it.
 */
export const REDIS_SECRET = { name: 'argocd-redis', key: 'auth', env: 'REDIS_PASSWORD' } as const
