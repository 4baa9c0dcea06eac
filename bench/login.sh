#!/usr/bin/env bash
# Login throughput on one node, Tresor beside OpenBao, on this machine, one after the other:
# userpass (the password KDF dominates) and AppRole logins.
#
#   bash bench/login.sh [DURATION] [CONCURRENCY]     (defaults: 10s, 16)
#
# Each server: fresh, raft storage in a temp dir, TLS off, loopback only; initialized with one
# key; userpass at auth/userpass with user tresor-bench, AppRole at auth/approle with role
# tresor-bench (token_ttl 60s so the issued tokens expire during the run, an unlimited
# secret id). The load is tresor-bench userpass-login and approle-login. Reports:
# target/bench/login-<server>-<scenario>.json; prints one line per run.
#
# Environment: SKIP_BUILD=1 (use the existing release build), TRESOR_BIN (default the release
# build), SERVERS (default "tresor openbao").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10s}"
CONC="${2:-16}"
SERVERS="${SERVERS:-tresor openbao}"
bash scripts/ci-deps.sh >/dev/null
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p tresor -p tresor-bench >/dev/null
fi
export TRESOR_BIN="${TRESOR_BIN:-$ROOT/target/release/tresor}"
BENCH="${BENCH:-$ROOT/target/release/tresor-bench}"
# shellcheck source=tests/compat/lib.sh
source "$ROOT/tests/compat/lib.sh"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"

json_field() { "$COMPAT_PYTHON" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_kind() {
    local kind="$1"
    compat_init "bench-login-$kind" "$kind"
    compat_start_server
    local init key token api
    init=$(curl -sf -X PUT "$SERVER_ADDR/v1/sys/init" -d '{"secret_shares":1,"secret_threshold":1}')
    key=$(json_field 'd["keys_base64"][0]' <<<"$init")
    token=$(json_field 'd["root_token"]' <<<"$init")
    curl -sf -X PUT "$SERVER_ADDR/v1/sys/unseal" -d "{\"key\":\"$key\"}" >/dev/null
    for _ in $(seq 1 150); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_ADDR/v1/sys/health")" == 200 ]] && break
        sleep 0.2
    done
    api() { curl -sf -X "$1" -H "X-Vault-Token: $token" "$SERVER_ADDR/v1/$2" ${3:+-d "$3"}; }
    api POST sys/auth/userpass '{"type":"userpass"}' >/dev/null
    api POST sys/auth/approle '{"type":"approle"}' >/dev/null
    api POST auth/userpass/users/tresor-bench '{"password":"bench-pw","token_ttl":"60s"}' >/dev/null
    api POST auth/approle/role/tresor-bench '{"token_ttl":"60s","role_id":"tresor-bench"}' >/dev/null
    local secret_id
    secret_id=$(api POST auth/approle/role/tresor-bench/secret-id '{}' | json_field 'd["data"]["secret_id"]')
    "$BENCH" userpass-login --addr "$SERVER_ADDR" --token "$token" --concurrency "$CONC" \
        --duration "$DURATION" --login-id tresor-bench --login-secret bench-pw --format json \
        >"$OUT/login-$kind-userpass.json"
    "$BENCH" approle-login --addr "$SERVER_ADDR" --token "$token" --concurrency "$CONC" \
        --duration "$DURATION" --login-id tresor-bench --login-secret "$secret_id" --format json \
        >"$OUT/login-$kind-approle.json"
    compat_stop_server
    for s in userpass approle; do
        echo "$kind $s-login: $(json_field '"%.0f ops/s, p50 %.1f ms, p99 %.1f ms, errors %s" % (d["ops_per_sec"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"])' <"$OUT/login-$kind-$s.json" 2>/dev/null || cat "$OUT/login-$kind-$s.json")"
    done
}

for kind in $SERVERS; do
    run_kind "$kind"
done
