#!/usr/bin/env bash
# Single-node KV v2 throughput, Tresor beside OpenBao, on this machine, one after the other.
#
#   bash bench/single-node.sh [DURATION] [CONCURRENCY]     (defaults: 10s, 32)
#
# Each server: fresh, raft storage in a temp dir, TLS off, loopback only; initialized with one
# key, KV v2 at secret/. The load is tresor-bench (crates/bench): kv-write, then kv-read over
# 1000 prepared keys, 256-byte values, keep-alive connections. Prints one table and the ratios.
#
# AUDIT=1 enables one file audit device (in the server's temp dir, default options) on each
# server before the load; bench/audit-cost.sh runs both ways and prints the cost.
# OUT_TAG names the result directory target/bench/<OUT_TAG> (default: single-node);
# SKIP_BUILD=1 uses the existing release build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10s}"
CONC="${2:-32}"
bash scripts/ci-deps.sh >/dev/null
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p tresor -p tresor-bench >/dev/null
fi
export TRESOR_BIN="$ROOT/target/release/tresor"
BENCH="$ROOT/target/release/tresor-bench"
# shellcheck source=tests/compat/lib.sh
source "$ROOT/tests/compat/lib.sh"
OUT="$ROOT/target/bench/${OUT_TAG:-single-node}"
mkdir -p "$OUT"

json_field() { "$COMPAT_PYTHON" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_kind() {
    local kind="$1"
    compat_init "bench-$kind" "$kind"
    compat_start_server
    local init key token
    init=$(curl -sf -X PUT "$SERVER_ADDR/v1/sys/init" -d '{"secret_shares":1,"secret_threshold":1}')
    key=$(json_field 'd["keys_base64"][0]' <<<"$init")
    token=$(json_field 'd["root_token"]' <<<"$init")
    curl -sf -X PUT "$SERVER_ADDR/v1/sys/unseal" -d "{\"key\":\"$key\"}" >/dev/null
    # Wait until the node is active (OpenBao's raft node becomes leader shortly after unseal).
    for _ in $(seq 1 150); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_ADDR/v1/sys/health")" == 200 ]] && break
        sleep 0.2
    done
    curl -sf -X POST -H "X-Vault-Token: $token" "$SERVER_ADDR/v1/sys/mounts/secret" \
        -d '{"type":"kv","options":{"version":"2"}}' >/dev/null || true
    # OpenBao upgrades a fresh KV v2 mount in the background; wait until writes work.
    for _ in $(seq 1 150); do
        curl -sf -X POST -H "X-Vault-Token: $token" "$SERVER_ADDR/v1/secret/data/warmup" \
            -d '{"data":{"v":"1"}}' >/dev/null && break
        sleep 0.2
    done
    if [[ "${AUDIT:-0}" == 1 ]]; then
        curl -sf -X PUT -H "X-Vault-Token: $token" "$SERVER_ADDR/v1/sys/audit/file" \
            -d "{\"type\":\"file\",\"options\":{\"file_path\":\"$SERVER_DIR/audit.log\"}}" >/dev/null
    fi
    local rss_idle
    rss_idle=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
    for scenario in kv-write kv-read; do
        "$BENCH" "$scenario" --addr "$SERVER_ADDR" --token "$token" --concurrency "$CONC" \
            --duration "$DURATION" --format json >"$OUT/$kind-$scenario.json"
    done
    local rss_after
    rss_after=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
    echo "{\"rss_idle_kib\": $rss_idle, \"rss_after_kib\": $rss_after}" >"$OUT/$kind-rss.json"
    if [[ "${AUDIT:-0}" == 1 ]]; then
        echo "$kind audit log: $(wc -l <"$SERVER_DIR/audit.log") entries, $(du -h "$SERVER_DIR/audit.log" | cut -f1)" >&2
    fi
    compat_stop_server
}

run_kind tresor
run_kind openbao

"$COMPAT_PYTHON" - "$OUT" "$CONC" <<'PY'
import json, sys, os
out, conc = sys.argv[1], sys.argv[2]
def load(kind, sc):
    with open(os.path.join(out, f"{kind}-{sc}.json")) as f:
        return json.load(f)
audit = " with one file audit device" if os.environ.get("AUDIT") == "1" else ""
print(f"single node{audit}, {conc} concurrent clients, KV v2, 256-byte values")
print(f"{'scenario':<10} {'server':<8} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
ratios = {}
for sc in ("kv-write", "kv-read"):
    for kind in ("tresor", "openbao"):
        r = load(kind, sc)
        lat = r.get("latency_ms", {})
        errs = sum(r.get("errors", {}).values()) if isinstance(r.get("errors"), dict) else r.get("errors", 0)
        print(f"{sc:<10} {kind:<8} {r['ops_per_sec']:>10.0f} {lat.get('p50', 0):>8.3f} {lat.get('p99', 0):>8.3f} {errs:>7}")
    ratios[sc] = load("tresor", sc)["ops_per_sec"] / max(load("openbao", sc)["ops_per_sec"], 1e-9)
for kind in ("tresor", "openbao"):
    with open(os.path.join(out, f"{kind}-rss.json")) as f:
        m = json.load(f)
    print(f"RSS {kind}: idle {m['rss_idle_kib']/1024:.1f} MiB, after load {m['rss_after_kib']/1024:.1f} MiB")
for sc, v in ratios.items():
    print(f"ratio Tresor/OpenBao {sc}: {v:.2f}x")
PY
