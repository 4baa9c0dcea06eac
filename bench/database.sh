#!/usr/bin/env bash
# Dynamic PostgreSQL credentials, Tresor beside OpenBao, on this machine, one after the other.
#
#   bash bench/database.sh [DURATION] [CONCURRENCY]     (defaults: 10s, 16)
#
# Starts one PostgreSQL 15 (Debian's, under a temp dir, loopback, scram-sha-256) shared by both
# runs. Each server: fresh single node (tests/compat/lib.sh), the database engine at
# database/ with the postgresql-database-plugin, a role `bench` (CREATE ROLE ... VALID UNTIL,
# default_ttl 1h). The load is tresor-bench db-creds (each operation creates a PostgreSQL
# role and a lease). Then every lease of the role is revoked with one
# `PUT sys/leases/revoke-prefix/database/creds/bench` (synchronous in both), and the script
# checks that PostgreSQL has no such role left. Prints creds/s with latency, the revocation
# rate (leases/s) and the ratios. Results: target/bench/database/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10s}"
CONC="${2:-16}"
bash scripts/ci-deps.sh >/dev/null
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p tresor -p tresor-bench >/dev/null
fi
export TRESOR_BIN="$ROOT/target/release/tresor"
BENCH="$ROOT/target/release/tresor-bench"
# shellcheck source=tests/compat/lib.sh
source "$ROOT/tests/compat/lib.sh"
OUT="$ROOT/target/bench/database"
rm -rf "$OUT"
mkdir -p "$OUT"

PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
PGDIR="$(mktemp -d)"
PGPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PGPASS="bench-root-$RANDOM$RANDOM"
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap pg_stop EXIT
[[ "$(id -u)" == 0 ]] && chown postgres "$PGDIR"
printf '%s\n' "$PGPASS" >"$PGDIR/pw"
[[ "$(id -u)" == 0 ]] && chown postgres "$PGDIR/pw"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$PGDIR/pw" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/pg.log" -w \
    -o "-k $PGDIR -h 127.0.0.1 -p $PGPORT -c max_connections=300 -c fsync=on" start >/dev/null
psql_count() {
    PGPASSWORD="$PGPASS" psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -Atc \
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
}

json_field() { "$COMPAT_PYTHON" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_kind() {
    local kind="$1"
    compat_init "bench-db-$kind" "$kind"
    compat_start_server
    local init key token h
    init=$(curl -sf -X PUT "$SERVER_ADDR/v1/sys/init" -d '{"secret_shares":1,"secret_threshold":1}')
    key=$(json_field 'd["keys_base64"][0]' <<<"$init")
    token=$(json_field 'd["root_token"]' <<<"$init")
    curl -sf -X PUT "$SERVER_ADDR/v1/sys/unseal" -d "{\"key\":\"$key\"}" >/dev/null
    for _ in $(seq 1 150); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_ADDR/v1/sys/health")" == 200 ]] && break
        sleep 0.2
    done
    h=(-H "X-Vault-Token: $token")
    curl -sf "${h[@]}" -X POST "$SERVER_ADDR/v1/sys/mounts/database" -d '{"type":"database"}' >/dev/null
    curl -sf "${h[@]}" -X POST "$SERVER_ADDR/v1/database/config/pg" -d "{
        \"plugin_name\": \"postgresql-database-plugin\",
        \"connection_url\": \"postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/postgres?sslmode=disable\",
        \"username\": \"postgres\", \"password\": \"$PGPASS\", \"allowed_roles\": \"bench\"}" >/dev/null
    curl -sf "${h[@]}" -X POST "$SERVER_ADDR/v1/database/roles/bench" -d '{
        "db_name": "pg", "default_ttl": "1h", "max_ttl": "24h",
        "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';"]}' >/dev/null
    "$BENCH" db-creds --addr "$SERVER_ADDR" --token "$token" --login-id bench \
        --concurrency "$CONC" --duration "$DURATION" --format json >"$OUT/$kind-creds.json"
    local roles leases start end
    roles=$(psql_count)
    leases=$(curl -sf "${h[@]}" -X LIST "$SERVER_ADDR/v1/sys/leases/lookup/database/creds/bench/" |
        json_field 'len(d["data"]["keys"])')
    start=$(date +%s.%N)
    curl -sf "${h[@]}" -X PUT "$SERVER_ADDR/v1/sys/leases/revoke-prefix/database/creds/bench" >/dev/null
    end=$(date +%s.%N)
    local left
    left=$(psql_count)
    printf '{"roles_created": %s, "leases": %s, "revoke_secs": %s, "roles_left": %s}\n' \
        "$roles" "$leases" "$(python3 -c "print($end - $start)")" "$left" >"$OUT/$kind-revoke.json"
    compat_stop_server
    # Leave PostgreSQL clean for the next server.
    PGPASSWORD="$PGPASS" psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -Atc \
        "SELECT 'DROP ROLE \"' || rolname || '\";' FROM pg_roles WHERE rolname LIKE 'v-%'" |
        PGPASSWORD="$PGPASS" psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres >/dev/null
}

run_kind tresor
run_kind openbao

"$COMPAT_PYTHON" - "$OUT" "$CONC" "$DURATION" <<'PY'
import json, os, sys
out, conc, duration = sys.argv[1:4]
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)
print(f"dynamic PostgreSQL credentials, single node, {conc} clients, {duration}")
print(f"{'server':<8} {'creds/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'leases':>7} {'revoked/s':>10} {'roles left':>10}")
rates = {}
for kind in ("tresor", "openbao"):
    c, r = load(f"{kind}-creds.json"), load(f"{kind}-revoke.json")
    lat = c.get("latency_ms", {})
    errs = c.get("errors", 0)
    errs = sum(errs.values()) if isinstance(errs, dict) else errs
    rev = r["leases"] / r["revoke_secs"] if r["revoke_secs"] > 0 else 0
    rates[kind] = (c["ops_per_sec"], rev)
    print(f"{kind:<8} {c['ops_per_sec']:>8.0f} {lat.get('p50', 0):>8.2f} {lat.get('p99', 0):>8.2f} "
          f"{errs:>7} {r['leases']:>7} {rev:>10.0f} {r['roles_left']:>10}")
t, o = rates["tresor"], rates["openbao"]
print(f"ratio Tresor/OpenBao creds/s: {t[0] / o[0]:.2f}x, revocations/s: {t[1] / max(o[1], 1e-9):.2f}x")
PY
