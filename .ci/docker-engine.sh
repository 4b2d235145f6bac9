#!/usr/bin/env bash
# CI only (run as root by .ci/run): a Docker engine for the kind tier, with the egress guard in
# place before any container can start. A user's machine keeps its own Docker: `just test` never
# installs system packages, and its kind phase is skipped when no engine answers.
#
#   1. Debian's docker.io, when no engine answers.
#   2. Where this machine's capability bounding set lacks CAP_SYS_RESOURCE, `docker run
#      --privileged` (kind's nodes) fails "unable to apply caps": the default runtime becomes a
#      wrapper that drops that capability from the container's spec before runc sees it.
#   3. The egress guard: nothing a container sends may leave the machine through the default
#      route (DOCKER-USER is the chain Docker leaves to its users for exactly this).
set -euo pipefail

log() { printf '[docker-engine] %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "docker-engine: run as root (CI)" >&2; exit 2; }

wrapper=/usr/local/libexec/platform-bootstrap/runc-without-sys-resource
default_iface=$(ip route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')

install_engine() {
  if ! command -v dockerd >/dev/null || ! command -v jq >/dev/null || ! command -v iptables >/dev/null; then
    log "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io jq iptables >/dev/null
  fi
}

# CAP_SYS_RESOURCE is capability 24.
lacks_sys_resource() {
  local bounding
  bounding=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  (( (16#$bounding >> 24 & 1) == 0 ))
}

write_runtime_wrapper() {
  mkdir -p "$(dirname "$wrapper")"
  cat > "$wrapper.tmp" <<'WRAPPER'
#!/usr/bin/env bash
# Drops CAP_SYS_RESOURCE (absent from this machine's bounding set) from what runc is asked to grant:
# the bundle's config.json on create/run, the --process file on exec. Then runs runc itself.
args=("$@"); bundle=""; process=""
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --bundle | -b) bundle="${args[$((i + 1))]}" ;;
    --bundle=*) bundle="${args[$i]#--bundle=}" ;;
    --process) process="${args[$((i + 1))]}" ;;
    --process=*) process="${args[$i]#--process=}" ;;
  esac
done
drop='map(select(. != "CAP_SYS_RESOURCE"))'
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  jq "(.process.capabilities // {}) |= with_entries(.value |= $drop)" "$bundle/config.json" > "$bundle/config.json.tmp" &&
    mv "$bundle/config.json.tmp" "$bundle/config.json"
fi
if [ -n "$process" ] && [ -f "$process" ]; then
  jq "if .capabilities then .capabilities |= with_entries(.value |= $drop) else . end" "$process" > "$process.tmp" &&
    mv "$process.tmp" "$process"
fi
exec /usr/sbin/runc "$@"
WRAPPER
  chmod 0755 "$wrapper.tmp"
  mv "$wrapper.tmp" "$wrapper"
}

configure_daemon() {
  mkdir -p /etc/docker
  if lacks_sys_resource; then
    log "CAP_SYS_RESOURCE is not in this machine's bounding set: default runtime $wrapper"
    write_runtime_wrapper
    printf '{"runtimes":{"runc-without-sys-resource":{"path":"%s"}},"default-runtime":"runc-without-sys-resource"}\n' \
      "$wrapper" > /etc/docker/daemon.json
  fi
}

start_engine() {
  docker info >/dev/null 2>&1 && return
  log "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd > /var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "docker-engine: dockerd did not answer within 60 s; the end of /var/log/dockerd.log:" >&2
  tail -n 20 /var/log/dockerd.log >&2
  exit 1
}

egress_guard() {
  [ -n "$default_iface" ] || { log "no default route: nothing can leave the machine, no guard needed"; return; }
  for _ in $(seq 1 30); do iptables -nL DOCKER-USER >/dev/null 2>&1 && break; sleep 1; done
  if ! iptables -C DOCKER-USER -o "$default_iface" -j REJECT 2>/dev/null; then
    iptables -I DOCKER-USER -o "$default_iface" -j REJECT
  fi
  log "egress guard: DOCKER-USER rejects what containers send out through $default_iface"
}

if docker info >/dev/null 2>&1; then
  # An engine already runs: only the guard is ours to add.
  egress_guard
  exit 0
fi
install_engine
configure_daemon
# The guard is in place before any container starts: dockerd starts none of its own (a fresh
# engine has no container with a restart policy) and nothing else runs one until this script ends.
start_engine
egress_guard
