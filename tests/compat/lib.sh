# shellcheck shell=bash
# Shared helpers of the compatibility scripts (source it; do not run it).
#
# A compat script starts ONE fresh server (tresor or openbao) on free loopback ports,
# with raft storage in a temporary directory and TLS disabled, waits until
# /v1/sys/health answers, drives it, and always stops it again:
#
#     source "$(dirname "$0")/lib.sh"
#     compat_init "hvac" "$1"          # name of the run, server kind
#     compat_start_server              # sets SERVER_ADDR, SERVER_PID, SERVER_DIR, SERVER_BIN
#     ...                              # compat_cleanup runs on exit (trap)
#
# Environment:
#   TRESOR_BIN           tresor binary (default: the newer of target/release/tresor and
#                        target/debug/tresor)
#   BAO_BIN              OpenBao binary (default: .tools/bin/bao, see scripts/ci-deps.sh)
#   COMPAT_START_TIMEOUT seconds to wait for /v1/sys/health (default 60)

COMPAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMPAT_TOOLS="$COMPAT_ROOT/.tools"
COMPAT_VENV="$COMPAT_TOOLS/venv"
COMPAT_PYTHON="$COMPAT_VENV/bin/python"
COMPAT_OUT="$COMPAT_ROOT/target/compat"
COMPAT_POLL_INTERVAL=0.2

SERVER_KIND=""
SERVER_BIN=""
SERVER_PID=""
SERVER_DIR=""
SERVER_ADDR=""
SERVER_LOG=""
COMPAT_NAME=""

compat_log() { printf '[%s] %s\n' "${COMPAT_NAME:-compat}" "$*"; }
compat_die() {
    printf '[%s] ERROR: %s\n' "${COMPAT_NAME:-compat}" "$*" >&2
    exit 1
}

# compat_init NAME KIND: checks the kind and the tools, creates target/compat, installs the
# cleanup trap.
compat_init() {
    COMPAT_NAME="$1"
    SERVER_KIND="${2:-}"
    case "$SERVER_KIND" in
    tresor | openbao) ;;
    *) compat_die "usage: $0 tresor|openbao (got '${SERVER_KIND}')" ;;
    esac
    [[ -x "$COMPAT_PYTHON" ]] || compat_die "no venv at $COMPAT_VENV: run scripts/ci-deps.sh first"
    mkdir -p "$COMPAT_OUT"
    trap compat_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# compat_free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
compat_free_port() {
    "$COMPAT_PYTHON" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# compat_bao_bin: prints the path of the real OpenBao binary.
compat_bao_bin() {
    local bin="${BAO_BIN:-$COMPAT_TOOLS/bin/bao}"
    [[ -x "$bin" ]] || compat_die "no bao binary at $bin: run scripts/ci-deps.sh first"
    printf '%s\n' "$bin"
}

# compat_tresor_bin: prints the path of the tresor binary to test.
compat_tresor_bin() {
    if [[ -n "${TRESOR_BIN:-}" ]]; then
        [[ -x "$TRESOR_BIN" ]] || compat_die "TRESOR_BIN=$TRESOR_BIN is not an executable"
        printf '%s\n' "$TRESOR_BIN"
        return 0
    fi
    local release="$COMPAT_ROOT/target/release/tresor" debug="$COMPAT_ROOT/target/debug/tresor"
    if [[ -x "$release" && -x "$debug" ]]; then
        # Both exist: take the one built last, so a stale build is never tested by accident.
        if [[ "$debug" -nt "$release" ]]; then printf '%s\n' "$debug"; else printf '%s\n' "$release"; fi
    elif [[ -x "$release" ]]; then
        printf '%s\n' "$release"
    elif [[ -x "$debug" ]]; then
        printf '%s\n' "$debug"
    else
        compat_die "no tresor binary (target/release/tresor or target/debug/tresor); build it or set TRESOR_BIN"
    fi
}

# compat_write_config FILE API_PORT CLUSTER_PORT DATA_DIR: the server's HCL configuration.
# The same file serves both kinds: raft storage, plain-HTTP listener.
compat_write_config() {
    local file="$1" port="$2" cport="$3" data="$4"
    cat >"$file" <<EOF
storage "raft" {
  path    = "$data"
  node_id = "compat-node-1"
}

listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$cport"
  tls_disable     = 1
}

api_addr      = "http://127.0.0.1:$port"
cluster_addr  = "http://127.0.0.1:$cport"
disable_mlock = true
ui            = false
log_level     = "info"

# hvac's audit tests enable audit devices through the API.
unsafe_allow_api_audit_creation = true
EOF
}

# compat_health_code ADDR: prints the HTTP status of GET ADDR/v1/sys/health, 000 if none.
compat_health_code() {
    curl --silent --output /dev/null --write-out '%{http_code}' \
        --max-time 2 "$1/v1/sys/health" 2>/dev/null || true
}

# compat_launch_once: starts the server in the background and waits until it answers.
# Returns 1 if the process died before answering (e.g. its port was taken meanwhile).
compat_launch_once() {
    local port cport bin deadline code
    port="$(compat_free_port)"
    cport="$(compat_free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(compat_free_port)"; done

    rm -rf "$SERVER_DIR/data"
    mkdir -p "$SERVER_DIR/data"
    compat_write_config "$SERVER_DIR/config.hcl" "$port" "$cport" "$SERVER_DIR/data"
    SERVER_ADDR="http://127.0.0.1:$port"
    SERVER_LOG="$COMPAT_OUT/$COMPAT_NAME-$SERVER_KIND-server.log"

    bin="$SERVER_BIN"
    compat_log "starting $SERVER_KIND ($bin) at $SERVER_ADDR, log $SERVER_LOG"
    # No token or address of the caller's environment may leak into the server.
    env -u VAULT_TOKEN -u BAO_TOKEN -u VAULT_ADDR -u BAO_ADDR \
        "$bin" server -config="$SERVER_DIR/config.hcl" >"$SERVER_LOG" 2>&1 </dev/null &
    SERVER_PID=$!

    deadline=$((SECONDS + ${COMPAT_START_TIMEOUT:-60}))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            compat_log "server exited before answering; last log lines:"
            tail -n 20 "$SERVER_LOG" >&2 || true
            return 1
        fi
        code="$(compat_health_code "$SERVER_ADDR")"
        if [[ "$code" != "000" && -n "$code" ]]; then
            compat_log "server answers /v1/sys/health with HTTP $code"
            return 0
        fi
        sleep "$COMPAT_POLL_INTERVAL"
    done
    compat_log "server did not answer /v1/sys/health within ${COMPAT_START_TIMEOUT:-60}s; last log lines:"
    tail -n 20 "$SERVER_LOG" >&2 || true
    compat_stop_server
    compat_die "server start timed out"
}

# compat_start_server: starts a fresh server of SERVER_KIND (up to 3 tries against port races).
compat_start_server() {
    case "$SERVER_KIND" in
    tresor) SERVER_BIN="$(compat_tresor_bin)" || exit 1 ;;
    openbao) SERVER_BIN="$(compat_bao_bin)" || exit 1 ;;
    esac
    SERVER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tresor-compat-$COMPAT_NAME.XXXXXX")"
    local try
    for try in 1 2 3; do
        if compat_launch_once; then
            return 0
        fi
        compat_log "start attempt $try failed"
    done
    compat_die "could not start $SERVER_KIND"
}

# compat_stop_server: SIGTERM, then SIGKILL after 15 s; idempotent.
compat_stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    local pid="$SERVER_PID" deadline
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 15))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep "$COMPAT_POLL_INTERVAL"
        done
        if kill -0 "$pid" 2>/dev/null; then
            compat_log "server $pid ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    compat_log "server stopped"
}

# compat_cleanup: the EXIT trap: stop the server, remove its temporary directory.
compat_cleanup() {
    local rc=$?
    compat_stop_server
    if [[ -n "$SERVER_DIR" && -d "$SERVER_DIR" ]]; then
        rm -rf "$SERVER_DIR"
    fi
    exit "$rc"
}
