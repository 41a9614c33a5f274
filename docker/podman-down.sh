#!/usr/bin/env bash
# Stop what docker/podman-up.sh started and clean what Podman left outside
# var/podman that podman-up.sh did not find there before it first ran.
#
#   docker/podman-down.sh           stop the service, remove memo containers
#   docker/podman-down.sh --purge   also delete var/podman (image, cached rootfs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
STATE=${MEMO_PODMAN_DIR:-$ROOT/var/podman}
log() { echo "podman-down: $*" >&2; }

[ -d "$STATE" ] || { log "nothing to do ($STATE does not exist)"; exit 0; }
STATE=$(cd "$STATE" && pwd)
exec 9>"$STATE/lock"
flock 9

export CONTAINERS_CONF=$STATE/containers.conf
export CONTAINERS_STORAGE_CONF=$STATE/storage.conf
export CONTAINERS_REGISTRIES_CONF=$STATE/registries.conf
export PATH=$PATH:/usr/sbin:/sbin

if command -v podman >/dev/null && [ -f "$CONTAINERS_CONF" ]; then
    # Every container of this storage (only memo's test and task containers live here).
    podman rm --all --force --time 0 >/dev/null 2>&1 || true
fi

pid=$(cat "$STATE/podman.pid" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q podman "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping the service (pid $pid)"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$STATE/podman.pid" "$STATE/podman.sock" "$STATE/env"

# Paths outside var/podman that Podman writes to whatever its configuration says.
# Remove only those that did not exist before podman-up.sh first ran.
preexisting() { grep -qxF "$1" "$STATE/preexisting" 2>/dev/null; }
if [ -f "$STATE/preexisting" ]; then
    for p in /var/lib/containers/cache /var/lib/cni /run/runc; do
        if [ -e "$p" ] && ! preexisting "$p"; then log "removing $p"; rm -rf "$p"; fi
    done
    if [ -d /var/lib/containers ] && ! preexisting /var/lib/containers; then
        rmdir /var/lib/containers 2>/dev/null && log "removing /var/lib/containers" || true
    fi
    rm -f "$STATE/preexisting"
fi
# CNI's iptables rules for a bridge network go with the containers removed above
# (`podman rm` tears their networks down); none are touched here, as other
# Podman or CNI users on the machine may own some.

if [ "${1:-}" = --purge ]; then
    log "deleting $STATE"
    # overlay mounts of stopped containers may still be there
    grep -F " $STATE/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$STATE"
fi
log "down"
