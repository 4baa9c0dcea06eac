#!/usr/bin/env bash
# Restart-to-unsealed time with the awskms seal: one Tresor node whose `seal "awskms"` talks to
# a moto_server (a local AWS KMS) on loopback. The node is initialized once (recovery keys 1/1),
# then RUNS times: kill -9, start again, and time from the start of the process until it
# answers at all and until `sys/health` answers 200 (unsealed through KMS and active). Every
# run and the medians are printed; nothing is built by this script.
#
#   bash bench/auto-unseal.sh
#   RUNS=9 TRESOR_BIN=target/debug/tresor bash bench/auto-unseal.sh
#
# Environment: RUNS (default 5), TRESOR_BIN (default target/release/tresor, else
# target/debug/tresor), TRESOR_MOTO_SERVER (default .tools/venv/bin/moto_server, installed
# by scripts/ci-deps.sh), BENCH_TIMEOUT (seconds per wait, default 60).
# Result: also written to target/bench/auto-unseal/summary.json.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-5}"
TIMEOUT="${BENCH_TIMEOUT:-60}"
if [[ -z "${TRESOR_BIN:-}" ]]; then
    TRESOR_BIN="$ROOT/target/release/tresor"
    [[ -x "$TRESOR_BIN" ]] || TRESOR_BIN="$ROOT/target/debug/tresor"
fi
MOTO="${TRESOR_MOTO_SERVER:-$ROOT/.tools/venv/bin/moto_server}"
[[ -x "$TRESOR_BIN" ]] || { echo "no tresor binary at $TRESOR_BIN (cargo build -p tresor)" >&2; exit 1; }
[[ -x "$MOTO" ]] || { echo "no moto_server at $MOTO (bash scripts/ci-deps.sh)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

WORK="$(mktemp -d)"
MOTO_PID=""
NODE_PID=""
cleanup() {
    if [[ -n "$NODE_PID" ]]; then kill -9 "$NODE_PID" 2>/dev/null || true; fi
    if [[ -n "$MOTO_PID" ]]; then kill "$MOTO_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }

# wait_until WHAT COMMAND...: polls COMMAND every 10 ms until it succeeds (BENCH_TIMEOUT).
wait_until() {
    local what="$1" deadline=$(( $(date +%s) + TIMEOUT ))
    shift
    until "$@"; do
        if (( $(date +%s) >= deadline )); then
            echo "timed out waiting for $what; node log:" >&2
            tail -20 "$WORK/node.log" >&2 || true
            exit 1
        fi
        sleep 0.01
    done
}

MOTO_PORT="$(free_port)"
"$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
KMS="http://127.0.0.1:$MOTO_PORT"
wait_until "moto_server" curl -s -o /dev/null "$KMS/"

# A KMS key over the KMS JSON API (moto does not check signatures; the credential scope
# selects the region).
KEY_ID="$(curl -sSf -X POST "$KMS/" \
    -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: TrentService.CreateKey' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')"

PORT="$(free_port)"
CPORT="$(free_port)"
ADDR="http://127.0.0.1:$PORT"
cat >"$WORK/server.hcl" <<EOF
storage "raft" {
  path    = "$WORK/data"
  node_id = "bench-1"
}
listener "tcp" {
  address         = "127.0.0.1:$PORT"
  cluster_address = "127.0.0.1:$CPORT"
  tls_disable     = true
}
api_addr      = "$ADDR"
cluster_addr  = "https://127.0.0.1:$CPORT"
disable_mlock = true
log_level     = "warn"
seal "awskms" {
  region     = "us-east-1"
  kms_key_id = "$KEY_ID"
  endpoint   = "$KMS"
  access_key = "test"
  secret_key = "test"
}
EOF

start_node() {
    "$TRESOR_BIN" server -config="$WORK/server.hcl" >>"$WORK/node.log" 2>&1 &
    NODE_PID=$!
}
answers() { curl -s -o /dev/null --max-time 1 "$ADDR/v1/sys/health"; }
active() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$ADDR/v1/sys/health")" == 200 ]]; }

start_node
wait_until "the node to answer" answers
INIT="$(curl -s -w '\n%{http_code}' -X PUT "$ADDR/v1/sys/init" \
    -d '{"recovery_shares": 1, "recovery_threshold": 1}')"
if [[ "${INIT##*$'\n'}" != 200 ]]; then
    echo "sys/init failed: ${INIT%$'\n'*}" >&2
    tail -5 "$WORK/node.log" >&2
    exit 1
fi
wait_until "the first unseal" active

median() { printf '%s\n' "$@" | sort -n | python3 -c '
import statistics, sys
print(round(statistics.median(float(l) for l in sys.stdin), 1))'; }

echo "restart-to-unsealed with awskms (moto on loopback), $RUNS runs, binary $TRESOR_BIN"
UNSEALED=()
ANSWERED=()
for i in $(seq 1 "$RUNS"); do
    kill -9 "$NODE_PID"
    wait "$NODE_PID" 2>/dev/null || true
    t0="$(now_ns)"
    start_node
    wait_until "the node to answer" answers
    t1="$(now_ns)"
    wait_until "the auto-unseal" active
    t2="$(now_ns)"
    a=$(( (t1 - t0) / 1000000 ))
    u=$(( (t2 - t0) / 1000000 ))
    ANSWERED+=("$a")
    UNSEALED+=("$u")
    echo "run $i: answering after ${a} ms, unsealed (health 200) after ${u} ms"
done
MED_U="$(median "${UNSEALED[@]}")"
MED_A="$(median "${ANSWERED[@]}")"
echo "median: answering ${MED_A} ms, restart-to-unsealed ${MED_U} ms"

OUT="$ROOT/target/bench/auto-unseal"
mkdir -p "$OUT"
python3 - "$OUT/summary.json" "$TRESOR_BIN" "$MED_U" "$MED_A" "${UNSEALED[*]}" "${ANSWERED[*]}" <<'PY'
import json, sys
path, binary, med_u, med_a, unsealed, answered = sys.argv[1:7]
json.dump({
    "seal": "awskms (moto_server, loopback)",
    "binary": binary,
    "runs_ms_unsealed": [int(x) for x in unsealed.split()],
    "runs_ms_answering": [int(x) for x in answered.split()],
    "median_ms_unsealed": float(med_u),
    "median_ms_answering": float(med_a),
}, open(path, "w"), indent=2)
PY
