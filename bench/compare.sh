#!/usr/bin/env bash
# Throughput of an N-node Tresor cluster beside an N-node OpenBao 2.7.2 cluster and an N-node
# etcd 3.4 cluster (N = NODES, default 3), one system after the other on this machine
# (loopback only).
#
#   bash bench/compare.sh [DURATION] [CONCURRENCY]        (defaults: 10s, 32)
#
# Environment:
#   SYSTEMS      systems to run, in order (default "tresor openbao etcd")
#   NODES        cluster size (default 3; 5 for the five-node figures)
#   TARGETS      "all" (load spread over every node; standbys answer reads and forward
#                writes), "leader" (load
#                to the leader only), or both (default "all leader")
#   PAYLOAD      value size in bytes (default 256)      KEYS   key set size (default 1000)
#   SEED         load seed (default 42)                  SKIP_BUILD=1  use the existing build
#
# Tresor and OpenBao run kv-write, kv-read and mixed (90% reads); etcd runs etcd-put and
# etcd-range with the same concurrency, payload, key set, warm-up and duration. Results:
# target/bench/compare/ (compare-<N>n/ for other sizes): <system>-<scenario>-<targets>.json (one tresor-bench report each) and
# target/bench/compare/summary.json (the table, the ratios and each node's RSS after the runs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10s}"
CONC="${2:-32}"
NODES="${NODES:-3}"
SYSTEMS="${SYSTEMS:-tresor openbao etcd}"
TARGETS="${TARGETS:-all leader}"
PAYLOAD="${PAYLOAD:-256}"
KEYS="${KEYS:-1000}"
SEED="${SEED:-42}"

bash bench/deps.sh >/dev/null
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "building release binaries (cargo build --release -p tresor -p tresor-bench)" >&2
    cargo build --release -p tresor -p tresor-bench >&2
fi
BENCH="$ROOT/target/release/tresor-bench"
[[ -x "$BENCH" ]] || { echo "no $BENCH" >&2; exit 1; }

# shellcheck source=bench/lib-cluster.sh
source "$ROOT/bench/lib-cluster.sh"
bc_init
OUT="$BC_OUT/compare"
[[ "$NODES" == 3 ]] || OUT="$BC_OUT/compare-${NODES}n"
rm -rf "$OUT"
mkdir -p "$OUT"

# usage_all: "TICKS BYTES" of every node, one line each.
usage_all() {
    local i
    for ((i = 0; i < BC_N; i++)); do bc_usage "$i"; done
}

# run_scenario SYSTEM SCENARIO TARGETS ADDR...: one tresor-bench run, report saved as JSON,
# with what each node spent on it (CPU ticks, bytes written) beside it as .cost.json.
run_scenario() {
    local system="$1" scenario="$2" tgt="$3" rc=0 before after leader a
    shift 3
    leader="$(bc_get_leader)"
    local common=("$scenario" --concurrency "$CONC" --payload "$PAYLOAD" --keys "$KEYS"
        --seed "$SEED" --prefix "bench-$tgt" --format json)
    for a in "$@"; do common+=(--addr "$a"); done
    local args=("${common[@]}" --duration "$DURATION")
    case "$scenario" in
    kv-read | mixed | etcd-range)
        # Write the key set first, outside the cost window (a run of one operation), so that
        # bytes/op counts what the measured operations write, not the preparation.
        VAULT_TOKEN="$BC_TOKEN" "$BENCH" "${common[@]}" --ops 1 --warmup 0s >/dev/null 2>&1 ||
            bc_log "key preparation for $system $scenario failed"
        args+=(--skip-prepare)
        ;;
    esac
    before="$(usage_all)"
    bc_log "$system $scenario against $tgt ($*)"
    if [[ "$system" == etcd ]]; then
        "$BENCH" "${args[@]}" >"$OUT/$system-$scenario-$tgt.json" || rc=$?
    else
        VAULT_TOKEN="$BC_TOKEN" "$BENCH" "${args[@]}" >"$OUT/$system-$scenario-$tgt.json" || rc=$?
    fi
    after="$(usage_all)"
    "$BC_PY" - "$leader" "$(getconf CLK_TCK)" "$before" "$after" >"$OUT/$system-$scenario-$tgt.cost.json" <<'PY'
import json, sys
leader, tck = int(sys.argv[1]), int(sys.argv[2])
b = [list(map(int, l.split())) for l in sys.argv[3].splitlines()]
a = [list(map(int, l.split())) for l in sys.argv[4].splitlines()]
print(json.dumps({"leader": leader,
                  "cpu_s": [(y[0] - x[0]) / tck for x, y in zip(b, a)],
                  "write_bytes": [max(y[1] - x[1], 0) for x, y in zip(b, a)]}))
PY
    if ((rc != 0)); then
        bc_log "tresor-bench exited with $rc for $system $scenario $tgt"
        [[ -s "$OUT/$system-$scenario-$tgt.json" ]] || rm -f "$OUT/$system-$scenario-$tgt.json"
    fi
}

for system in $SYSTEMS; do
    bc_start "$system" "$NODES" compare
    rss_idle=()
    for ((i = 0; i < BC_N; i++)); do rss_idle+=("$(bc_rss_kib "$i")"); done
    if [[ "$system" == etcd ]]; then scenarios="etcd-put etcd-range"; else scenarios="kv-write kv-read mixed"; fi
    for scenario in $scenarios; do
        for tgt in $TARGETS; do
            case "$tgt" in
            all) run_scenario "$system" "$scenario" all "${BC_ADDR[@]}" ;;
            leader)
                leader="$(bc_get_leader)"
                run_scenario "$system" "$scenario" leader "${BC_ADDR[$leader]}"
                ;;
            *) bc_die "TARGETS: unknown '$tgt' (all|leader)" ;;
            esac
        done
    done
    rss_after=()
    for ((i = 0; i < BC_N; i++)); do rss_after+=("$(bc_rss_kib "$i")"); done
    printf '{"system":"%s","rss_idle_kib":[%s],"rss_after_kib":[%s]}\n' "$system" \
        "$(IFS=,; echo "${rss_idle[*]}")" "$(IFS=,; echo "${rss_after[*]}")" >"$OUT/$system-rss.json"
    bc_stop
done

"$BC_PY" - "$OUT" "$CONC" "$DURATION" "$PAYLOAD" "$TARGETS" "$SYSTEMS" "$NODES" <<'PY'
import json, os, sys
out, conc, duration, payload = sys.argv[1:5]
targets, systems, nodes = sys.argv[5].split(), sys.argv[6].split(), sys.argv[7]

def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

rows = []
for system in systems:
    scs = ["etcd-put", "etcd-range"] if system == "etcd" else ["kv-write", "kv-read", "mixed"]
    for sc in scs:
        for tgt in targets:
            r = load(f"{system}-{sc}-{tgt}.json")
            c = load(f"{system}-{sc}-{tgt}.cost.json")
            lat = (r or {}).get("latency_ms", {})
            row = {"system": system, "scenario": sc, "targets": tgt,
                   "ops_per_sec": r["ops_per_sec"] if r else None,
                   "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"),
                   "errors": r["errors"] if r else None,
                   "leader_cpu_us_per_op": None, "follower_cpu_us_per_op": None,
                   "bytes_written_per_op": None}
            total = (r or {}).get("ops") or (r or {}).get("total_ops")
            if total is None and r and r.get("ops_per_sec") and r.get("elapsed_secs"):
                total = r["ops_per_sec"] * r["elapsed_secs"]
            if c and total:
                l = c["leader"]
                followers = [x for i, x in enumerate(c["cpu_s"]) if i != l]
                row["leader_cpu_us_per_op"] = c["cpu_s"][l] * 1e6 / total
                if followers:
                    row["follower_cpu_us_per_op"] = sum(followers) / len(followers) * 1e6 / total
                row["bytes_written_per_op"] = sum(c["write_bytes"]) / total
            rows.append(row)

def f(v, fmt):
    return "-" if v is None else format(v, fmt)

print(f"{nodes}-node clusters on loopback, {conc} concurrent clients, {duration} per run, {payload}-byte values")
print(f"{'system':<8} {'scenario':<11} {'targets':<7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
for r in rows:
    print(f"{r['system']:<8} {r['scenario']:<11} {r['targets']:<7} {f(r['ops_per_sec'], '9.0f')} "
          f"{f(r['p50_ms'], '8.2f')} {f(r['p99_ms'], '8.2f')} {f(r['errors'], '7d')}")

print()
print("cost per operation: CPU of the leader and of a follower (mean), bytes written by all nodes")
print(f"{'system':<8} {'scenario':<11} {'targets':<7} {'leader us':>10} {'follower us':>12} {'bytes/op':>10}")
for r in rows:
    print(f"{r['system']:<8} {r['scenario']:<11} {r['targets']:<7} {f(r['leader_cpu_us_per_op'], '10.1f')} "
          f"{f(r['follower_cpu_us_per_op'], '12.1f')} {f(r['bytes_written_per_op'], '10.0f')}")

def ops(system, sc, tgt):
    for r in rows:
        if (r["system"], r["scenario"], r["targets"]) == (system, sc, tgt):
            return r["ops_per_sec"]
    return None

ratios = []
pairs = [("openbao", "kv-write", "kv-write", "write"), ("openbao", "kv-read", "kv-read", "read"),
         ("openbao", "mixed", "mixed", "mixed"), ("etcd", "kv-write", "etcd-put", "write vs put"),
         ("etcd", "kv-read", "etcd-range", "read vs range")]
for tgt in targets:
    for other, ours, theirs, label in pairs:
        a, b = ops("tresor", ours, tgt), ops(other, theirs, tgt)
        if a is None or b is None or b <= 0:
            continue
        ratios.append({"against": other, "what": label, "targets": tgt, "ratio": a / b})
        print(f"ratio Tresor/{'OpenBao' if other == 'openbao' else 'etcd'} {label:<14} ({tgt:<6}): {a / b:6.2f}x")

rss = {}
for system in systems:
    m = load(f"{system}-rss.json")
    if m:
        rss[system] = m
        idle = "/".join(f"{k / 1024:.0f}" for k in m["rss_idle_kib"])
        after = "/".join(f"{k / 1024:.0f}" for k in m["rss_after_kib"])
        print(f"RSS {system:<8} per node, MiB: idle {idle}, after the runs {after}")

with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump({"nodes": int(nodes), "concurrency": int(conc), "duration": duration, "payload_bytes": int(payload),
               "rows": rows, "ratios": ratios, "rss": rss}, f, indent=1)
print(f"results: {out}/summary.json")
PY
