#!/usr/bin/env bash
# Recovery and memory scenarios for Tresor, OpenBao and etcd, one system after the other on
# this machine (loopback only). Build first (bench/compare.sh does, or
# `cargo build --release -p tresor -p tresor-bench`); this script does not build.
#
#   bash bench/recovery.sh [SCENARIO...]      (default: failover restart rss cold)
#
# Scenarios (each on a fresh cluster):
#   failover  3 nodes: kill -9 the leader, time until the next write acknowledged through a
#             surviving node (the script alternates between the survivors, one request in
#             flight, 1 s timeout each); then the killed node is restarted and unsealed and
#             the cluster is checked writable through every node before the next run.
#   restart   3 nodes: kill -9 a follower, start it again, time until it answers, and until
#             it is unsealed and serves a KV read through itself. Shamir seal: the script sends
#             the unseal key the moment the node answers; that call is inside the time.
#   rss       3 nodes: VmRSS of each node after formation, then after writing RSS_SECRETS
#             distinct secrets (tresor-bench kv-read's key preparation writes keys 0..N once).
#   cold      1 node: write fresh COLD_VALUE-byte secrets until COLD_MIB MiB of them are
#             written and the data directory occupies at least that much on disk, stop the
#             node (SIGTERM), start it again, time until it answers and until it is unsealed
#             and serves a read (unseal sent the moment it answers).
#             Tresor and OpenBao only.
#   snapshot  1 node: fill SNAP_MIB MiB of SNAP_VALUE-byte secrets (as cold), then time
#             `GET sys/storage/raft/snapshot` into a file and `POST sys/storage/raft/snapshot`
#             of that file back (curl streams both ways; a secret written after the save must
#             be gone after the restore). Records the archive size, both durations and the
#             node's peak RSS during each (VmRSS sampled every 50 ms). Tresor and OpenBao only.
#   reclaim   1 node: fill RECLAIM_MIB MiB of COLD_VALUE-byte secrets into a second KV v2
#             mount, disable that mount (which deletes every key under it), stop the node
#             (SIGTERM), start it again, time until it serves; records the data directory on
#             disk when full, after the deletes, and after the restart (Tresor compacts
#             state.redb at start when it is mostly free space). Tresor and OpenBao only.
#
# Environment: SYSTEMS (default "tresor openbao etcd"), RUNS (failover/restart runs, default 5),
# RSS_SECRETS (default 100000), COLD_MIB (default 1024), COLD_VALUE (default 4096),
# COLD_MAX_SECS (bound of the cold fill, default 3600), COLD_STOP (how the filled node is
# stopped before the cold start: "term", the default, or "kill" for kill -9), CONC (writers,
# default 32),
# SNAP_MIB (default 100), SNAP_VALUE (default 4096), RECLAIM_MIB (default 256).
# Results: target/bench/recovery/<system>-<scenario>.json and summary.json (this run's only).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCENARIOS="${*:-failover restart rss cold}"
SYSTEMS="${SYSTEMS:-tresor openbao etcd}"
RUNS="${RUNS:-5}"
RSS_SECRETS="${RSS_SECRETS:-100000}"
COLD_MIB="${COLD_MIB:-1024}"
COLD_VALUE="${COLD_VALUE:-4096}"
COLD_STOP="${COLD_STOP:-term}"
COLD_MAX_SECS="${COLD_MAX_SECS:-3600}"
CONC="${CONC:-32}"
SNAP_MIB="${SNAP_MIB:-100}"
SNAP_VALUE="${SNAP_VALUE:-4096}"
RECLAIM_MIB="${RECLAIM_MIB:-256}"
BENCH="$ROOT/target/release/tresor-bench"
[[ -x "$BENCH" ]] || { echo "no $BENCH: build first (see the header of $0)" >&2; exit 1; }

# shellcheck source=bench/lib-cluster.sh
source "$ROOT/bench/lib-cluster.sh"
bc_init
OUT="$BC_OUT/recovery"
mkdir -p "$OUT"

# json_nums NUMBERS...: a JSON array of numbers.
json_nums() { (IFS=,; echo "[$*]"); }

# fill KEYS PREFIX PAYLOAD ADDR...: writes keys 0..KEYS-1 under PREFIX once each.
fill() {
    local keys="$1" prefix="$2" payload="$3" a args=()
    shift 3
    for a in "$@"; do args+=(--addr "$a"); done
    if [[ "$BC_KIND" == etcd ]]; then
        "$BENCH" etcd-range --keys "$keys" --prefix "$prefix" --payload "$payload" --ops 1 \
            --warmup 0 --concurrency "$CONC" --format json "${args[@]}" >/dev/null
    else
        VAULT_TOKEN="$BC_TOKEN" "$BENCH" kv-read --keys "$keys" --prefix "$prefix" \
            --mount "${FILL_MOUNT:-secret}" --payload "$payload" --ops 1 --warmup 0 --concurrency "$CONC" --format json \
            "${args[@]}" >/dev/null
    fi
}

# first_ack_ms I J T0: polls writes through nodes I and J alternately; prints ms since T0
# of the first acknowledged one (dies after BC_TIMEOUT seconds).
first_ack_ms() {
    local a="$1" b="$2" t0="$3" n=0 node deadline=$((SECONDS + BC_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ((n % 2 == 0)); then node="$a"; else node="$b"; fi
        n=$((n + 1))
        if BC_REQ_TIMEOUT=1 bc_write "$node" "failover-$n"; then
            echo $(($(bc_now_ms) - t0))
            return 0
        fi
    done
    bc_die "no write acknowledged within ${BC_TIMEOUT}s after the kill"
}

scenario_failover() {
    local system="$1" run leader survivors t0 ms times=()
    bc_start "$system" 3 failover
    for ((run = 1; run <= RUNS; run++)); do
        bc_wait "writes through every node" bc_all_writable
        leader="$(bc_get_leader)"
        survivors=()
        for ((i = 0; i < BC_N; i++)); do ((i == leader)) || survivors+=("$i"); done
        t0="$(bc_now_ms)"
        bc_kill9 "$leader"
        ms="$(first_ack_ms "${survivors[0]}" "${survivors[1]}" "$t0")"
        bc_log "$system failover run $run: leader node $((leader + 1)) killed, next write acknowledged after $ms ms"
        times+=("$ms")
        bc_rejoin "$leader"
    done
    printf '{"system":"%s","scenario":"failover","runs_ms":%s,"median_ms":%s}\n' "$system" \
        "$(json_nums "${times[@]}")" "$(bc_median "${times[@]}")" >"$OUT/$system-failover.json"
    bc_stop
}

scenario_restart() {
    local system="$1" run leader node t0 t_answer answers=() serving=()
    bc_start "$system" 3 restart
    for ((run = 1; run <= RUNS; run++)); do
        bc_wait "writes through every node" bc_all_writable
        leader="$(bc_get_leader)"
        node=$(((leader + 1 + run % 2) % BC_N))
        bc_kill9 "$node"
        t0="$(bc_now_ms)"
        bc_spawn "$node"
        bc_wait_answers "$node"
        t_answer=$(($(bc_now_ms) - t0))
        if bc_is_vault; then bc_wait "node $((node + 1)) to unseal" bc_unseal "$node"; fi
        bc_wait "node $((node + 1)) to serve" bc_serving "$node"
        serving+=("$(($(bc_now_ms) - t0))")
        answers+=("$t_answer")
        bc_log "$system restart run $run: follower node $((node + 1)) answered after $t_answer ms, serving after ${serving[-1]} ms"
    done
    printf '{"system":"%s","scenario":"restart","answer_ms":%s,"serving_ms":%s,"median_answer_ms":%s,"median_serving_ms":%s}\n' \
        "$system" "$(json_nums "${answers[@]}")" "$(json_nums "${serving[@]}")" \
        "$(bc_median "${answers[@]}")" "$(bc_median "${serving[@]}")" >"$OUT/$system-restart.json"
    bc_stop
}

scenario_rss() {
    local system="$1" idle=() after=() t0 secs
    bc_start "$system" 3 rss
    for ((i = 0; i < BC_N; i++)); do idle+=("$(bc_rss_kib "$i")"); done
    bc_log "$system rss idle (KiB): ${idle[*]}; writing $RSS_SECRETS secrets"
    t0="$(bc_now_ms)"
    fill "$RSS_SECRETS" rss 256 "${BC_ADDR[@]}"
    secs="$(awk -v ms=$(($(bc_now_ms) - t0)) 'BEGIN {printf "%.1f", ms / 1000}')"
    for ((i = 0; i < BC_N; i++)); do after+=("$(bc_rss_kib "$i")"); done
    bc_log "$system rss after $RSS_SECRETS secrets in ${secs}s (KiB): ${after[*]}"
    printf '{"system":"%s","scenario":"rss","secrets":%s,"fill_secs":%s,"idle_kib":%s,"after_kib":%s,"data_bytes":%s}\n' \
        "$system" "$RSS_SECRETS" "$secs" "$(json_nums "${idle[@]}")" "$(json_nums "${after[@]}")" \
        "$(bc_data_bytes 0)" >"$OUT/$system-rss.json"
    bc_stop
}

# disk_bytes I: bytes node I's data directory occupies on disk (allocated blocks).
disk_bytes() { du -s --block-size=1 "$(bc_node_dir "$1")/data" 2>/dev/null | cut -f1; }

# fill_to MIB VALUE TAG: writes fresh VALUE-byte secrets to node 0 until MIB MiB of them are
# written and its data directory occupies at least that much on disk (file sizes alone
# overstate it: redb grows its files ahead of use). Prints the bytes written.
fill_to() {
    local mib="$1" value="$2" tag="$3" target=$(($1 * 1024 * 1024)) written=0 round=0 chunk
    local deadline=$((SECONDS + COLD_MAX_SECS))
    while ((written < target)) || (($(disk_bytes 0) < target)); do
        ((SECONDS < deadline)) || bc_die "$tag fill: ${COLD_MAX_SECS}s passed with $written bytes written"
        chunk=$(((target - written + value - 1) / value))
        ((chunk < 1000)) && chunk=1000
        ((chunk > 50000)) && chunk=50000
        round=$((round + 1))
        fill "$chunk" "$tag-$round" "$value" "${BC_ADDR[0]}"
        written=$((written + chunk * value))
        bc_log "$tag fill round $round: $chunk secrets; $((written >> 20)) MiB written, data dir $(($(disk_bytes 0) >> 20)) MiB on disk"
    done
    echo "$written"
}

scenario_cold() {
    local system="$1" written t0 t_answer t_serving fill_start
    if [[ "$system" == etcd ]]; then
        bc_log "cold start: etcd skipped (Tresor and OpenBao only)"
        return 0
    fi
    bc_start "$system" 1 cold
    fill_start=$SECONDS
    written="$(fill_to "$COLD_MIB" "$COLD_VALUE" "$system-cold")"
    local fill_secs=$((SECONDS - fill_start)) rss_before bytes disk
    rss_before="$(bc_rss_kib 0)"
    if [[ "$COLD_STOP" == kill ]]; then bc_kill9 0; else bc_stop_node 0; fi
    bytes="$(bc_data_bytes 0)"
    disk="$(disk_bytes 0)"
    t0="$(bc_now_ms)"
    bc_spawn 0
    bc_wait_answers 0
    t_answer=$(($(bc_now_ms) - t0))
    bc_wait "node 1 to unseal" bc_unseal 0
    bc_wait "node 1 to serve" bc_serving 0
    t_serving=$(($(bc_now_ms) - t0))
    bc_log "$system cold start (stopped by $COLD_STOP) with $((disk >> 20)) MiB on disk: answered after $t_answer ms, serving after $t_serving ms"
    printf '{"system":"%s","scenario":"cold","stop":"%s","written_bytes":%s,"data_bytes":%s,"disk_bytes":%s,"fill_secs":%s,"answer_ms":%s,"serving_ms":%s,"rss_before_stop_kib":%s,"rss_after_start_kib":%s}\n' \
        "$system" "$COLD_STOP" "$written" "$bytes" "$disk" "$fill_secs" "$t_answer" "$t_serving" \
        "$rss_before" "$(bc_rss_kib 0)" >"$OUT/$system-cold.json"
    bc_stop
}

# state_file_bytes I: bytes of node I's state file (Tresor's state.redb, OpenBao's vault.db).
state_file_bytes() {
    local f
    for f in "$(bc_node_dir "$1")/data/state.redb" "$(bc_node_dir "$1")/data/vault.db"; do
        [[ -f "$f" ]] && { stat -c %s "$f"; return 0; }
    done
    echo 0
}

scenario_reclaim() {
    local system="$1" written disk_full disk_deleted disk_after state_full state_deleted
    local state_after t0 t_serving code
    if [[ "$system" == etcd ]]; then
        bc_log "reclaim: etcd skipped (Tresor and OpenBao only)"
        return 0
    fi
    bc_start "$system" 1 reclaim
    bc_mount_kv 0 bulk || bc_die "mounting bulk/ failed"
    written="$(FILL_MOUNT=bulk fill_to "$RECLAIM_MIB" "$COLD_VALUE" "$system-reclaim")"
    disk_full="$(disk_bytes 0)"
    state_full="$(state_file_bytes 0)"
    t0="$(bc_now_ms)"
    code="$(BC_REQ_TIMEOUT=600 bc_curl_code -X DELETE -H "X-Vault-Token: $BC_TOKEN" \
        "${BC_ADDR[0]}/v1/sys/mounts/bulk")"
    [[ "$code" == 2?? ]] || bc_die "disabling bulk/: HTTP $code"
    bc_log "$system: bulk/ disabled in $(($(bc_now_ms) - t0)) ms"
    bc_stop_node 0
    disk_deleted="$(disk_bytes 0)"
    state_deleted="$(state_file_bytes 0)"
    t0="$(bc_now_ms)"
    bc_spawn 0
    bc_wait_answers 0
    bc_wait "node 1 to unseal" bc_unseal 0
    bc_wait "node 1 to serve" bc_serving 0
    t_serving=$(($(bc_now_ms) - t0))
    disk_after="$(disk_bytes 0)"
    state_after="$(state_file_bytes 0)"
    bc_log "$system reclaim: on disk $((disk_full >> 20)) MiB full, $((disk_deleted >> 20)) MiB after the deletes, $((disk_after >> 20)) MiB after the restart (serving after $t_serving ms)"
    printf '{"system":"%s","scenario":"reclaim","written_bytes":%s,"disk_full_bytes":%s,"disk_deleted_bytes":%s,"disk_after_restart_bytes":%s,"state_full_bytes":%s,"state_deleted_bytes":%s,"state_after_restart_bytes":%s,"serving_ms":%s}\n' \
        "$system" "$written" "$disk_full" "$disk_deleted" "$disk_after" "$state_full" \
        "$state_deleted" "$state_after" "$t_serving" >"$OUT/$system-reclaim.json"
    bc_stop
}

# peak_rss_while PIDFILE_OUT CMD...: runs CMD while sampling node 0's VmRSS every 50 ms; writes
# the highest sample (KiB) to PIDFILE_OUT. Returns CMD's status.
peak_rss_while() {
    local out="$1" pid="${BC_PID[0]}" sampler rc=0
    shift
    (
        peak=0
        while kill -0 "$pid" 2>/dev/null; do
            v="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
            ((${v:-0} > peak)) && peak="$v" && echo "$peak" >"$out"
            sleep 0.05
        done
    ) &
    sampler=$!
    "$@" || rc=$?
    sleep 0.1
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    return "$rc"
}

scenario_snapshot() {
    local system="$1" written file code t0 save_ms restore_ms size rss_idle
    if [[ "$system" == etcd ]]; then
        bc_log "snapshot: etcd skipped (Tresor and OpenBao only)"
        return 0
    fi
    bc_start "$system" 1 snapshot
    written="$(fill_to "$SNAP_MIB" "$SNAP_VALUE" "$system-snap")"
    rss_idle="$(bc_rss_kib 0)"
    file="$BC_DIR/$system.snap"
    t0="$(bc_now_ms)"
    code="$(peak_rss_while "$BC_DIR/save.rss" curl --silent --show-error --max-time 3600 \
        -H "X-Vault-Token: $BC_TOKEN" -o "$file" --write-out '%{http_code}' \
        "${BC_ADDR[0]}/v1/sys/storage/raft/snapshot")"
    save_ms=$(($(bc_now_ms) - t0))
    [[ "$code" == 200 ]] || bc_die "snapshot save answered $code"
    size="$(stat -c %s "$file")"
    bc_log "$system snapshot save: $((size >> 20)) MiB in $save_ms ms, peak RSS $(($(cat "$BC_DIR/save.rss") >> 10)) MiB"
    bc_write 0 after-snapshot || bc_die "write after the save refused"
    t0="$(bc_now_ms)"
    code="$(peak_rss_while "$BC_DIR/restore.rss" curl --silent --show-error --max-time 3600 \
        -X POST -H "X-Vault-Token: $BC_TOKEN" -H 'Content-Type: application/octet-stream' \
        -T "$file" --output /dev/null --write-out '%{http_code}' \
        "${BC_ADDR[0]}/v1/sys/storage/raft/snapshot")"
    restore_ms=$(($(bc_now_ms) - t0))
    [[ "$code" == 2?? ]] || bc_die "snapshot restore answered $code"
    bc_wait "node 1 to serve after the restore" bc_serving 0
    ! bc_read 0 after-snapshot || bc_die "the secret written after the save survived the restore"
    bc_log "$system snapshot restore: $restore_ms ms, peak RSS $(($(cat "$BC_DIR/restore.rss") >> 10)) MiB"
    printf '{"system":"%s","scenario":"snapshot","written_bytes":%s,"size_bytes":%s,"save_ms":%s,"restore_ms":%s,"rss_idle_kib":%s,"peak_rss_save_kib":%s,"peak_rss_restore_kib":%s}\n' \
        "$system" "$written" "$size" "$save_ms" "$restore_ms" "$rss_idle" \
        "$(cat "$BC_DIR/save.rss")" "$(cat "$BC_DIR/restore.rss")" >"$OUT/$system-snapshot.json"
    rm -f "$file"
    bc_stop
}

failures=0
for scenario in $SCENARIOS; do
    case "$scenario" in
    failover | restart | rss | cold | snapshot | reclaim) ;;
    *) bc_die "unknown scenario '$scenario' (failover restart rss cold snapshot reclaim)" ;;
    esac
    for system in $SYSTEMS; do
        rm -f "$OUT/$system-$scenario.json"
        # A subshell per system and scenario, with its own cleanup trap: a failure (a write
        # refused, a node not coming back in time) is recorded and the next one still runs.
        rc=0
        (
            trap bc_cleanup EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
            "scenario_$scenario" "$system"
        ) || rc=$?
        if ((rc != 0)); then
            failures=$((failures + 1))
            bc_log "$system $scenario FAILED (exit $rc); logs in $BC_OUT/$scenario-$system"
            printf '{"system":"%s","scenario":"%s","failed":true,"exit":%s}\n' \
                "$system" "$scenario" "$rc" >"$OUT/$system-$scenario.json"
        fi
    done
done

"$BC_PY" - "$OUT" "$SYSTEMS" "$SCENARIOS" <<'PY'
import json, os, sys
out, systems, scenarios = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
res = {}
for system in systems:
    for sc in scenarios:
        try:
            with open(os.path.join(out, f"{system}-{sc}.json")) as f:
                res.setdefault(system, {})[sc] = json.load(f)
        except (OSError, ValueError):
            pass
mib = lambda kib: "/".join(f"{k / 1024:.0f}" for k in kib)
for system, all_runs in res.items():
    r = {sc: x for sc, x in all_runs.items() if not x.get("failed")}
    for sc, x in all_runs.items():
        if x.get("failed"):
            print(f"{system:<8} {sc}: FAILED (exit {x['exit']}), see the log above")
    if "failover" in r:
        x = r["failover"]
        print(f"{system:<8} failover (kill -9 leader -> next acknowledged write): median {x['median_ms']} ms, runs {x['runs_ms']}")
    if "restart" in r:
        x = r["restart"]
        print(f"{system:<8} restart follower: answers after median {x['median_answer_ms']} ms, unsealed+serving after median {x['median_serving_ms']} ms, runs {x['serving_ms']}")
    if "rss" in r:
        x = r["rss"]
        print(f"{system:<8} RSS per node, MiB: idle {mib(x['idle_kib'])}, after {x['secrets']} secrets {mib(x['after_kib'])} (written in {x['fill_secs']} s)")
    if "cold" in r:
        x = r["cold"]
        print(f"{system:<8} cold start after {'kill -9' if x.get('stop') == 'kill' else 'SIGTERM'} with {x['written_bytes'] / 2**20:.0f} MiB of secrets ({x['disk_bytes'] / 2**20:.0f} MiB on disk): answers after {x['answer_ms']} ms, unsealed+serving after {x['serving_ms']} ms")
    if "snapshot" in r:
        x = r["snapshot"]
        print(f"{system:<8} snapshot of {x['written_bytes'] / 2**20:.0f} MiB of secrets: {x['size_bytes'] / 2**20:.1f} MiB archive, save {x['save_ms']} ms (peak RSS {x['peak_rss_save_kib'] / 1024:.0f} MiB), restore {x['restore_ms']} ms (peak RSS {x['peak_rss_restore_kib'] / 1024:.0f} MiB), idle RSS {x['rss_idle_kib'] / 1024:.0f} MiB")
    if "reclaim" in r:
        x = r["reclaim"]
        m = lambda b: f"{b / 2**20:.0f}"
        print(f"{system:<8} reclaim after deleting {x['written_bytes'] / 2**20:.0f} MiB of secrets: data dir on disk {m(x['disk_full_bytes'])} MiB full, {m(x['disk_deleted_bytes'])} MiB after the deletes, {m(x['disk_after_restart_bytes'])} MiB after a restart (state file {m(x['state_full_bytes'])} -> {m(x['state_deleted_bytes'])} -> {m(x['state_after_restart_bytes'])} MiB); serving {x['serving_ms']} ms after the start")
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(res, f, indent=1)
print(f"results: {out}/summary.json")
PY
if ((failures > 0)); then
    bc_log "$failures scenario run(s) failed"
    exit 1
fi
