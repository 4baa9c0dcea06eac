#!/usr/bin/env bash
# The cost of one file audit device on single-node KV v2 throughput, Tresor beside OpenBao.
#
#   bash bench/audit-cost.sh [DURATION] [CONCURRENCY]     (defaults: 10s, 32)
#
# Runs bench/single-node.sh twice (SKIP_BUILD=1 skips its release build the second time):
# without audit, then with one file audit device (default options: HMAC'd tokens and values,
# JSON lines, the device's own file in the server's temp dir). Prints ops/s without and with
# the device and the share of throughput it costs, per server and scenario.
# Results: target/bench/audit-off/ and target/bench/audit-on/ (tresor-bench reports).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10s}"
CONC="${2:-32}"
OUT_TAG=audit-off AUDIT=0 bash bench/single-node.sh "$DURATION" "$CONC"
OUT_TAG=audit-on AUDIT=1 SKIP_BUILD=1 bash bench/single-node.sh "$DURATION" "$CONC"
python3 - "$ROOT/target/bench" "$CONC" <<'PY'
import json, os, sys
base, conc = sys.argv[1], sys.argv[2]
def ops(tag, kind, sc):
    with open(os.path.join(base, tag, f"{kind}-{sc}.json")) as f:
        return json.load(f)["ops_per_sec"]
print()
print(f"cost of one file audit device, single node, {conc} clients, KV v2, 256-byte values")
print(f"{'scenario':<10} {'server':<8} {'no audit':>10} {'audit':>10} {'cost':>7}")
for sc in ("kv-write", "kv-read"):
    for kind in ("tresor", "openbao"):
        off, on = ops("audit-off", kind, sc), ops("audit-on", kind, sc)
        print(f"{sc:<10} {kind:<8} {off:>10.0f} {on:>10.0f} {100 * (1 - on / off):>6.1f}%")
    t, o = ops("audit-on", "tresor", sc), ops("audit-on", "openbao", sc)
    print(f"{sc:<10} with audit: Tresor/OpenBao {t / o:.2f}x")
PY
