#!/bin/sh
# platform-bootstrap's docker-entrypoint.sh for the offline OpenBao image (quay.io/openbao/openbao
# cannot be pulled here). The openbao chart runs `docker-entrypoint.sh bao server -config=...`
# from /bin/sh (busybox ash). As upstream's: a first argument that is a flag or a bao subcommand
# gets `bao` put in front; then the command replaces this shell. The image already runs as the
# openbao user (uid 100), so there is no privilege drop and no setcap here.
set -e

case "${1:-}" in
  -*) set -- bao "$@" ;;
  server | version | status | operator | login | read | write | kv | secrets | auth | policy | token)
    set -- bao "$@"
    ;;
esac

if [ "${1:-}" = bao ] && [ "${2:-}" = server ]; then
  # Upstream's defaults: the config directory the image ships, and no mlock (no IPC_LOCK here).
  export BAO_DISABLE_MLOCK="${BAO_DISABLE_MLOCK:-true}"
fi

exec "$@"
