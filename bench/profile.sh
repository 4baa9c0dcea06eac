#!/usr/bin/env bash
# Profiles the leader of a 3-node Tresor cluster under load with perf (loopback only).
#
#   bash bench/profile.sh [SCENARIO] [DURATION]        (defaults: kv-write, 8s)
#
# Starts a fresh 3-node cluster from the release build (build first:
# `cargo build --release -p tresor -p tresor-bench`), runs tresor-bench SCENARIO against the
# leader with CONC clients (default 32), records the leader with `perf record` (DWARF call
# graphs; needs perf, e.g. apt install linux-perf) for the run, then prints the throughput,
# each node's CPU use and the hottest symbols. The raw data stays in target/bench/perf.data
# for `perf report -i target/bench/perf.data` or a flamegraph tool.
# Environment: NODES (default 3), CONC (default 32), PERF_FREQ (samples/s, default 299),
# TARGETS ("leader", the default, or "all": load spread over every node as bench/compare.sh
# does), RECORD ("leader", the default, or "follower": the first node that does not lead).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCENARIO="${1:-kv-write}"
DURATION="${2:-8s}"
CONC="${CONC:-32}"
BENCH="$ROOT/target/release/tresor-bench"
[[ -x "$BENCH" ]] || { echo "no $BENCH: build first (see the header of $0)" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf missing (apt install linux-perf)" >&2; exit 1; }

# shellcheck source=bench/lib-cluster.sh
source "$ROOT/bench/lib-cluster.sh"
bc_init
bc_start tresor "${NODES:-3}" profile
leader="$(bc_get_leader)"
recorded="$leader"
if [[ "${RECORD:-leader}" == follower ]]; then
    recorded=$(((leader + 1) % BC_N))
fi
pid="${BC_PID[$recorded]}"
addrs=(--addr "${BC_ADDR[$leader]}")
if [[ "${TARGETS:-leader}" == all ]]; then
    addrs=()
    for ((i = 0; i < BC_N; i++)); do addrs+=(--addr "${BC_ADDR[$i]}"); done
fi
DATA="$BC_OUT/perf.data"
secs="${DURATION%s}"
bc_log "recording node $((recorded + 1)) (leader: node $((leader + 1)); pid $pid) for ${secs}s"
perf record -F "${PERF_FREQ:-299}" --call-graph dwarf,16384 -p "$pid" -o "$DATA" \
    -- sleep "$secs" >/dev/null 2>&1 &
perf_pid=$!
cpu_before=()
for ((i = 0; i < BC_N; i++)); do
    cpu_before+=("$(awk '{print $14 + $15}' "/proc/${BC_PID[$i]}/stat")")
done
VAULT_TOKEN="$BC_TOKEN" "$BENCH" "$SCENARIO" --concurrency "$CONC" --duration "$DURATION" \
    --payload 256 --keys 1000 "${addrs[@]}" --format table
tck="$(getconf CLK_TCK)"
for ((i = 0; i < BC_N; i++)); do
    now="$(awk '{print $14 + $15}' "/proc/${BC_PID[$i]}/stat")"
    role=follower
    ((i == leader)) && role=leader
    awk -v n="$((i + 1))" -v r="$role" -v d="$((now - cpu_before[i]))" -v t="$tck" -v s="$secs" \
        'BEGIN { printf "node %d (%s): %.2f cores during the run\n", n, r, d / t / s }'
done
wait "$perf_pid" || true
echo "hottest symbols of node $((recorded + 1)) (self time, > 1%):"
perf report -i "$DATA" --no-children --sort sym --percent-limit 1 --stdio -g none 2>/dev/null |
    grep '%' | head -30
echo "largest inclusive shares (children, > 5%):"
perf report -i "$DATA" --children --sort sym --percent-limit 5 --stdio -g none 2>/dev/null |
    grep '%' | grep -v '(inlined)' | head -40
