# shellcheck shell=bash
# Helpers of the benchmark scripts (source it; do not run it): start, drive and stop a cluster
# of N nodes on loopback of one kind — tresor, openbao or etcd — one at a time.
#
#     source "$ROOT/bench/lib-cluster.sh"
#     bc_init                      # checks tools, installs the cleanup trap
#     bc_start tresor 3 compare    # KIND N NAME: formed, unsealed, KV v2 at secret/, writable
#     ... "${BC_ADDR[@]}" "$BC_TOKEN" bc_leader bc_kill9 bc_restart ...
#     bc_stop                      # also run by the EXIT trap
#
# Topology (the same for tresor and openbao): each node has its own API and cluster port on
# 127.0.0.1 and its own data directory under target/bench/<NAME>-<KIND>/node-<i>; raft storage
# with performance_multiplier = $PERF_MULTIPLIER (default 0: each system's default timing); node 1 is initialized (1 key share, threshold 1) and unsealed;
# nodes 2..N carry retry_join blocks naming every other node and are unsealed with the same
# key once they hold a join challenge; the script waits until the raft configuration lists N
# voters. etcd: N members started together with --initial-cluster.
#
# Every wait polls with a deadline (BENCH_TIMEOUT seconds, default 120); nothing sleeps as
# synchronisation. Node indexes are 0-based in the arrays and shown 1-based in names.
#
# Environment: TRESOR_BIN (default target/release/tresor), BAO_BIN (default .tools/bin/bao),
# ETCD_BIN (default etcd on PATH), BENCH_TIMEOUT.

BC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BC_OUT="$BC_ROOT/target/bench"
BC_PY="$BC_ROOT/.tools/venv/bin/python"
BC_POLL=0.05
BC_TIMEOUT="${BENCH_TIMEOUT:-120}"

BC_KIND=""
BC_N=0
BC_NAME=""
BC_DIR=""
BC_ADDR=()
BC_PORT=()
BC_CPORT=()
BC_PID=()
BC_TOKEN=""
BC_KEY=""
BC_PROBE_KEY="bench-probe"

bc_log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bc_die() {
    printf '[bench %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
    exit 1
}

# bc_now_ms: milliseconds since the epoch.
bc_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# bc_init: checks the tools and installs the cleanup trap (stop every node on exit).
bc_init() {
    command -v curl >/dev/null || bc_die "curl missing: run bench/deps.sh"
    command -v jq >/dev/null || bc_die "jq missing: run bench/deps.sh"
    [[ -x "$BC_PY" ]] || bc_die "no venv at $BC_PY: run bench/deps.sh"
    mkdir -p "$BC_OUT"
    trap bc_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bc_cleanup() {
    local rc=$?
    bc_stop
    exit "$rc"
}

# bc_bin KIND: the server binary of KIND.
bc_bin() {
    local bin
    case "$1" in
    tresor) bin="${TRESOR_BIN:-$BC_ROOT/target/release/tresor}" ;;
    openbao) bin="${BAO_BIN:-$BC_ROOT/.tools/bin/bao}" ;;
    etcd) bin="${ETCD_BIN:-$(command -v etcd || true)}" ;;
    *) bc_die "unknown kind '$1' (tresor|openbao|etcd)" ;;
    esac
    [[ -n "$bin" && -x "$bin" ]] || bc_die "no $1 binary ('$bin'): build it or run bench/deps.sh"
    printf '%s\n' "$bin"
}

# bc_free_ports N: N distinct TCP ports on 127.0.0.1 that were free a moment ago.
bc_free_ports() {
    "$BC_PY" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# bc_is_vault: whether the current kind speaks Vault's API.
bc_is_vault() { [[ "$BC_KIND" != etcd ]]; }

# bc_node_dir I: the directory of node I (0-based).
bc_node_dir() { printf '%s/node-%d\n' "$BC_DIR" "$(($1 + 1))"; }

# bc_curl_code ARGS...: runs curl (BC_REQ_TIMEOUT seconds cap, default 2) and prints the HTTP
# status, 000 when none.
bc_curl_code() {
    curl --silent --output /dev/null --write-out '%{http_code}' --max-time "${BC_REQ_TIMEOUT:-2}" \
        "$@" 2>/dev/null || true
}

# bc_vault I METHOD PATH [BODY]: one request to node I with the root token; prints the body.
bc_vault() {
    local i="$1" method="$2" path="$3" body="${4:-}"
    local args=(--silent --max-time 5 -X "$method" -H "X-Vault-Token: $BC_TOKEN")
    [[ -n "$body" ]] && args+=(-d "$body")
    curl "${args[@]}" "${BC_ADDR[$i]}/v1/$path" 2>/dev/null || true
}

# bc_write_config I: writes node I's configuration (HCL for tresor/openbao).
bc_write_config() {
    local i="$1" dir join="" j
    dir="$(bc_node_dir "$i")"
    mkdir -p "$dir/data"
    if ((i > 0)); then
        for ((j = 0; j < BC_N; j++)); do
            ((j == i)) && continue
            join+="  retry_join {
    leader_api_addr = \"${BC_ADDR[$j]}\"
  }
"
        done
    fi
    # Unset or 0: leave the key out, so each system uses its own default timing (OpenBao
    # refuses an explicit 0).
    local perf=""
    if [[ -n "${PERF_MULTIPLIER:-}" && "${PERF_MULTIPLIER}" != 0 ]]; then
        perf="  performance_multiplier = ${PERF_MULTIPLIER}
"
    fi
    cat >"$dir/config.hcl" <<EOF
storage "raft" {
  path                   = "$dir/data"
  node_id                = "node-$((i + 1))"
$perf$join}

listener "tcp" {
  address         = "127.0.0.1:${BC_PORT[$i]}"
  cluster_address = "127.0.0.1:${BC_CPORT[$i]}"
  tls_disable     = true
}

api_addr      = "${BC_ADDR[$i]}"
cluster_addr  = "https://127.0.0.1:${BC_CPORT[$i]}"
disable_mlock = true
ui            = false
log_level     = "${BENCH_LOG_LEVEL:-warn}"
EOF
}

# bc_spawn I: starts node I in the background (same configuration and data as before).
bc_spawn() {
    local i="$1" dir bin
    dir="$(bc_node_dir "$i")"
    bin="$(bc_bin "$BC_KIND")"
    if [[ "$BC_KIND" == etcd ]]; then
        local cluster="" j
        for ((j = 0; j < BC_N; j++)); do
            cluster+="${cluster:+,}m$((j + 1))=http://127.0.0.1:${BC_CPORT[$j]}"
        done
        mkdir -p "$dir"
        "$bin" --name "m$((i + 1))" --data-dir "$dir/data" \
            --listen-client-urls "${BC_ADDR[$i]}" --advertise-client-urls "${BC_ADDR[$i]}" \
            --listen-peer-urls "http://127.0.0.1:${BC_CPORT[$i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${BC_CPORT[$i]}" \
            --initial-cluster "$cluster" --initial-cluster-token tresor-bench \
            --initial-cluster-state new --logger zap --log-level warn \
            >>"$dir/server.log" 2>&1 </dev/null &
    else
        env -u VAULT_TOKEN -u BAO_TOKEN -u VAULT_ADDR -u BAO_ADDR \
            "$bin" server -config="$dir/config.hcl" >>"$dir/server.log" 2>&1 </dev/null &
    fi
    BC_PID[i]=$!
}

# bc_alive I: whether node I's process runs.
bc_alive() { [[ -n "${BC_PID[$1]:-}" ]] && kill -0 "${BC_PID[$1]}" 2>/dev/null; }

# bc_answers I: whether node I answers HTTP on its health endpoint (any status).
bc_answers() {
    local path=/v1/sys/health
    bc_is_vault || path=/health
    [[ "$(bc_curl_code "${BC_ADDR[$1]}$path")" != 000 ]]
}

# bc_wait WHAT CMD...: polls CMD until it succeeds, dies after BC_TIMEOUT seconds.
bc_wait() {
    local what="$1" deadline=$((SECONDS + BC_TIMEOUT))
    shift
    until "$@"; do
        if ((SECONDS >= deadline)); then
            bc_tail_logs
            bc_die "timed out after ${BC_TIMEOUT}s waiting for $what"
        fi
        sleep "$BC_POLL"
    done
}

# bc_wait_answers I: waits until node I answers; dies if its process exits first.
bc_wait_answers() {
    local i="$1" deadline=$((SECONDS + BC_TIMEOUT))
    until bc_answers "$i"; do
        if ! bc_alive "$i"; then
            tail -n 20 "$(bc_node_dir "$i")/server.log" >&2 || true
            bc_die "node $((i + 1)) exited before answering"
        fi
        ((SECONDS < deadline)) || bc_die "node $((i + 1)) did not answer within ${BC_TIMEOUT}s"
        sleep "$BC_POLL"
    done
}

bc_tail_logs() {
    local i
    for ((i = 0; i < BC_N; i++)); do
        printf -- '--- node %d log ---\n' "$((i + 1))" >&2
        tail -n 15 "$(bc_node_dir "$i")/server.log" >&2 2>/dev/null || true
    done
}

# bc_seal_field I FIELD: prints FIELD of node I's sys/seal-status ("" when it does not answer).
bc_seal_field() {
    curl --silent --max-time 2 "${BC_ADDR[$1]}/v1/sys/seal-status" 2>/dev/null |
        jq -r ".$2 // empty" 2>/dev/null || true
}

# bc_unseal I: submits the key to node I (Shamir, threshold 1); succeeds when it reports
# itself unsealed.
bc_unseal() {
    local out
    out="$(curl --silent --max-time 10 -X PUT "${BC_ADDR[$1]}/v1/sys/unseal" \
        -d "{\"key\":\"$BC_KEY\"}" 2>/dev/null || true)"
    jq -e '.sealed == false' <<<"$out" >/dev/null 2>&1
}

# bc_has_challenge I: whether node I reports itself initialized (a joining node holds its
# join challenge).
bc_has_challenge() { [[ "$(bc_seal_field "$1" initialized)" == true ]]; }

# bc_voters: number of voters in the raft configuration as seen by any running node.
bc_voters() {
    local i n
    for ((i = 0; i < BC_N; i++)); do
        bc_alive "$i" || continue
        n="$(bc_vault "$i" GET sys/storage/raft/configuration |
            jq '[.data.config.servers[]? | select(.voter == true)] | length' 2>/dev/null || true)"
        [[ -n "$n" && "$n" != 0 ]] && {
            echo "$n"
            return 0
        }
    done
    echo 0
}

bc_has_voters() { [[ "$(bc_voters)" -ge "$1" ]]; }

# bc_write I KEY: one acknowledged write of KEY through node I (KV v2 put or etcd put).
bc_write() {
    local i="$1" key="$2" code
    if bc_is_vault; then
        code="$(bc_curl_code -X PUT -H "X-Vault-Token: $BC_TOKEN" \
            -d '{"data":{"v":"bench"}}' "${BC_ADDR[$i]}/v1/secret/data/$key")"
    else
        code="$(bc_curl_code -X POST \
            -d "{\"key\":\"$(printf '%s' "$key" | base64)\",\"value\":\"YmVuY2g=\"}" \
            "${BC_ADDR[$i]}/v3/kv/put")"
    fi
    [[ "$code" == 2?? ]]
}

# bc_read I KEY: one successful read of KEY through node I.
bc_read() {
    local i="$1" key="$2"
    if bc_is_vault; then
        [[ "$(bc_curl_code -H "X-Vault-Token: $BC_TOKEN" \
            "${BC_ADDR[$i]}/v1/secret/data/$key")" == 200 ]]
    else
        curl --silent --max-time 2 -X POST -d "{\"key\":\"$(printf '%s' "$key" | base64)\"}" \
            "${BC_ADDR[$i]}/v3/kv/range" 2>/dev/null | jq -e '.count == "1"' >/dev/null 2>&1
    fi
}

# bc_serving I: whether node I is unsealed (vault kinds) and serves a read of the probe key.
bc_serving() {
    local i="$1"
    if bc_is_vault; then
        case "$(bc_curl_code "${BC_ADDR[$i]}/v1/sys/health")" in
        200 | 429 | 473) ;;
        *) return 1 ;;
        esac
    fi
    bc_read "$i" "$BC_PROBE_KEY"
}

# bc_all_writable: a write through every running node is acknowledged.
bc_all_writable() {
    local i
    for ((i = 0; i < BC_N; i++)); do
        bc_alive "$i" || continue
        bc_write "$i" "$BC_PROBE_KEY" || return 1
    done
}

# bc_leader: prints the index of the node that is leader, if exactly one running node says so.
bc_leader() {
    local i found=() st
    for ((i = 0; i < BC_N; i++)); do
        bc_alive "$i" || continue
        if bc_is_vault; then
            [[ "$(curl --silent --max-time 2 "${BC_ADDR[$i]}/v1/sys/leader" 2>/dev/null |
                jq -r '.is_self // empty' 2>/dev/null)" == true ]] && found+=("$i")
        else
            st="$(curl --silent --max-time 2 -X POST -d '{}' \
                "${BC_ADDR[$i]}/v3/maintenance/status" 2>/dev/null || true)"
            [[ -n "$st" ]] && jq -e '.leader == .header.member_id' <<<"$st" >/dev/null 2>&1 &&
                found+=("$i")
        fi
    done
    ((${#found[@]} == 1)) || return 1
    echo "${found[0]}"
}

bc_has_leader() { bc_leader >/dev/null; }

# bc_get_leader: waits for a leader (BC_TIMEOUT) and prints its index.
bc_get_leader() {
    local deadline=$((SECONDS + BC_TIMEOUT)) l
    until l="$(bc_leader)"; do
        ((SECONDS < deadline)) || bc_die "no leader within ${BC_TIMEOUT}s"
        sleep "$BC_POLL"
    done
    echo "$l"
}

# bc_start KIND N NAME: starts a fresh N-node cluster, forms it, unseals it, mounts KV v2 at
# secret/ and waits until a write through every node is acknowledged.
bc_start() {
    BC_KIND="$1"
    BC_N="$2"
    BC_NAME="$3"
    BC_DIR="$BC_OUT/$BC_NAME-$BC_KIND"
    BC_ADDR=()
    BC_PORT=()
    BC_CPORT=()
    BC_PID=()
    BC_TOKEN=""
    BC_KEY=""
    bc_bin "$BC_KIND" >/dev/null
    rm -rf "$BC_DIR"
    mkdir -p "$BC_DIR"
    local ports i
    read -r -a ports <<<"$(bc_free_ports $((2 * BC_N)))"
    for ((i = 0; i < BC_N; i++)); do
        BC_PORT[i]="${ports[$((2 * i))]}"
        BC_CPORT[i]="${ports[$((2 * i + 1))]}"
        BC_ADDR[i]="http://127.0.0.1:${BC_PORT[$i]}"
    done
    bc_log "starting $BC_N-node $BC_KIND ($(bc_bin "$BC_KIND")) in $BC_DIR"
    if [[ "$BC_KIND" == etcd ]]; then
        for ((i = 0; i < BC_N; i++)); do bc_spawn "$i"; done
        for ((i = 0; i < BC_N; i++)); do bc_wait_answers "$i"; done
        bc_wait "an etcd leader" bc_has_leader
        bc_wait "writes through every member" bc_all_writable
        bc_log "$BC_KIND formed: ${BC_ADDR[*]}"
        return 0
    fi
    for ((i = 0; i < BC_N; i++)); do bc_write_config "$i"; done
    bc_spawn 0
    bc_wait_answers 0
    local init
    init="$(curl --silent --fail --max-time 30 -X PUT "${BC_ADDR[0]}/v1/sys/init" \
        -d '{"secret_shares":1,"secret_threshold":1}')" || bc_die "sys/init failed"
    BC_KEY="$(jq -r '.keys_base64[0]' <<<"$init")"
    BC_TOKEN="$(jq -r '.root_token' <<<"$init")"
    [[ -n "$BC_KEY" && "$BC_KEY" != null && -n "$BC_TOKEN" ]] || bc_die "sys/init: no key or token"
    bc_wait "node 1 to unseal" bc_unseal 0
    bc_wait "node 1 to become active" bc_node_active 0
    for ((i = 1; i < BC_N; i++)); do bc_spawn "$i"; done
    for ((i = 1; i < BC_N; i++)); do
        bc_wait_answers "$i"
        bc_wait "node $((i + 1)) to hold a join challenge" bc_has_challenge "$i"
        bc_wait "node $((i + 1)) to unseal" bc_unseal "$i"
    done
    bc_wait "$BC_N voters" bc_has_voters "$BC_N"
    local leader
    leader="$(bc_get_leader)"
    bc_wait "the KV v2 mount" bc_mount_kv "$leader"
    bc_wait "writes through every node" bc_all_writable
    bc_log "$BC_KIND formed: ${BC_ADDR[*]} (leader node $((leader + 1)))"
}

# bc_node_active I: node I's sys/health answers 200 (unsealed and active).
bc_node_active() { [[ "$(bc_curl_code "${BC_ADDR[$1]}/v1/sys/health")" == 200 ]]; }

# bc_mount_kv I [MOUNT]: mounts KV v2 at MOUNT/ (default secret/) through node I (success
# also when it exists).
bc_mount_kv() {
    local code mount="${2:-secret}"
    code="$(bc_curl_code -X POST -H "X-Vault-Token: $BC_TOKEN" \
        -d '{"type":"kv","options":{"version":"2"}}' "${BC_ADDR[$1]}/v1/sys/mounts/$mount")"
    [[ "$code" == 2?? ]] && return 0
    [[ "$(bc_vault "$1" GET sys/mounts | jq -r --arg m "$mount/" '.data[$m].type // .[$m].type // empty' 2>/dev/null)" == kv ]]
}

# bc_kill9 I: SIGKILL to node I and reap it.
bc_kill9() {
    local i="$1" pid="${BC_PID[$1]:-}"
    [[ -n "$pid" ]] || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    BC_PID[i]=""
}

# bc_stop_node I: SIGTERM to node I, SIGKILL after 30 s; reaps it.
bc_stop_node() {
    local i="$1" pid="${BC_PID[$1]:-}" deadline
    [[ -n "$pid" ]] || return 0
    BC_PID[i]=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep "$BC_POLL"; done
        if kill -0 "$pid" 2>/dev/null; then
            bc_log "node $((i + 1)) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# bc_stop: stops every node of the current cluster (idempotent); keeps logs, removes data
# unless BENCH_KEEP_DATA=1.
bc_stop() {
    local i
    ((BC_N > 0)) || return 0
    for ((i = 0; i < BC_N; i++)); do
        [[ -n "${BC_PID[$i]:-}" ]] && kill -TERM "${BC_PID[$i]}" 2>/dev/null
    done
    for ((i = 0; i < BC_N; i++)); do bc_stop_node "$i"; done
    if [[ "${BENCH_KEEP_DATA:-0}" != 1 && -n "$BC_DIR" ]]; then
        for ((i = 0; i < BC_N; i++)); do rm -rf "$(bc_node_dir "$i")/data"; done
    fi
    bc_log "$BC_KIND stopped (logs in $BC_DIR)"
    BC_N=0
}

# bc_rejoin I: starts node I again and waits until it serves (unsealing it when sealed).
bc_rejoin() {
    local i="$1"
    bc_spawn "$i"
    bc_wait_answers "$i"
    if bc_is_vault; then
        bc_wait "node $((i + 1)) to unseal" bc_unseal "$i"
    fi
    bc_wait "node $((i + 1)) to serve" bc_serving "$i"
}

# bc_rss_kib I: resident set size of node I in KiB (VmRSS), 0 when not running.
# bc_usage I: node I's CPU time so far (clock ticks, user + system) and bytes it caused to be
# written to storage (/proc/PID/io write_bytes), as "TICKS BYTES"; "0 0" when unknown.
bc_usage() {
    local pid="${BC_PID[$1]:-}" ticks bytes
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || {
        echo "0 0"
        return 0
    }
    # Fields 14 and 15 (utime, stime) after the ")" that ends the command name.
    ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
    bytes=$(awk '/^write_bytes:/ {print $2}' "/proc/$pid/io" 2>/dev/null || echo 0)
    echo "$ticks ${bytes:-0}"
}

bc_rss_kib() {
    local pid="${BC_PID[$1]:-}"
    [[ -n "$pid" && -r "/proc/$pid/status" ]] || {
        echo 0
        return 0
    }
    awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"
}

# bc_data_bytes I: bytes under node I's data directory.
bc_data_bytes() { du -sb "$(bc_node_dir "$1")/data" 2>/dev/null | cut -f1; }

# bc_median NUMBERS...: the median (mean of the middle two for an even count).
bc_median() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
