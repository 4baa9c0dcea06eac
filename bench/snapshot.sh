#!/usr/bin/env bash
# Snapshot save and restore, Tresor then OpenBao, one raft node each on loopback. Build first
# (bench/compare.sh does, or `cargo build --release -p tresor -p tresor-bench`); this script
# does not build.
#
#   bash bench/snapshot.sh
#
# Per system: start one node (raft storage, KV v2 at secret/), write fresh SNAP_VALUE-byte
# secrets until SNAP_MIB MiB of values are written, then
#   save     GET  /v1/sys/storage/raft/snapshot to a file (curl, streamed to disk)
#   restore  POST /v1/sys/storage/raft/snapshot with that file
# and report both times, the archive's size, and the server's peak RSS (VmHWM) before the
# save, after the save and after the restore. Memory that stays flat while the archive grows
# is the point: neither side should hold the snapshot in memory.
#
# Environment: SYSTEMS (default "tresor openbao"), SNAP_MIB (default 100; the disk needs about
# four times that per system, deleted afterwards), SNAP_VALUE (default 65536), CONC (writers,
# default 16), TRESOR_BIN, BAO_BIN, BENCH_TIMEOUT (see bench/lib-cluster.sh).
# Results: target/bench/snapshot/<system>.json and summary.json.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SYSTEMS="${SYSTEMS:-tresor openbao}"
SNAP_MIB="${SNAP_MIB:-100}"
SNAP_VALUE="${SNAP_VALUE:-65536}"
CONC="${CONC:-16}"
BENCH="$ROOT/target/release/tresor-bench"
[[ -x "$BENCH" ]] || { echo "no $BENCH: build first (see the header of $0)" >&2; exit 1; }

# shellcheck source=bench/lib-cluster.sh
source "$ROOT/bench/lib-cluster.sh"
bc_init
OUT="$BC_OUT/snapshot"
mkdir -p "$OUT"

# hwm_kib I: peak resident memory of node I so far, KiB.
hwm_kib() {
    local pid="${BC_PID[$1]:-}"
    [[ -n "$pid" && -r "/proc/$pid/status" ]] || { echo 0; return 0; }
    awk '/^VmHWM:/ {print $2}' "/proc/$pid/status"
}

keys=$(((SNAP_MIB * 1024 * 1024 + SNAP_VALUE - 1) / SNAP_VALUE))
summary="[]"
for kind in $SYSTEMS; do
    bc_start "$kind" 1 snapshot
    addr="${BC_ADDR[0]}"
    bc_log "$kind: writing $keys secrets of $SNAP_VALUE bytes"
    VAULT_TOKEN="$BC_TOKEN" "$BENCH" kv-read --keys "$keys" --prefix snap \
        --payload "$SNAP_VALUE" --ops 1 --warmup 0 --concurrency "$CONC" --format json \
        --addr "$addr" >/dev/null
    file="$BC_DIR/backup.snap"
    hwm_before=$(hwm_kib 0)

    t0=$(bc_now_ms)
    code=$(curl -sS -o "$file" -w '%{http_code}' -H "X-Vault-Token: $BC_TOKEN" \
        "$addr/v1/sys/storage/raft/snapshot")
    save_ms=$(($(bc_now_ms) - t0))
    [[ "$code" == 200 ]] || bc_die "$kind: save answered $code"
    size=$(stat -c %s "$file")
    hwm_save=$(hwm_kib 0)

    t0=$(bc_now_ms)
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $BC_TOKEN" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
        "$addr/v1/sys/storage/raft/snapshot")
    restore_ms=$(($(bc_now_ms) - t0))
    [[ "$code" == 204 ]] || bc_die "$kind: restore answered $code"
    hwm_restore=$(hwm_kib 0)
    rm -f "$file"

    result=$(jq -n --arg system "$kind" --argjson mib "$SNAP_MIB" --argjson keys "$keys" \
        --argjson save_ms "$save_ms" --argjson restore_ms "$restore_ms" \
        --argjson archive_bytes "$size" --argjson hwm_before_kib "$hwm_before" \
        --argjson hwm_after_save_kib "$hwm_save" --argjson hwm_after_restore_kib "$hwm_restore" \
        '{system: $system, data_mib: $mib, keys: $keys, save_ms: $save_ms,
          restore_ms: $restore_ms, archive_bytes: $archive_bytes,
          peak_rss_kib: {before: $hwm_before_kib, after_save: $hwm_after_save_kib,
                         after_restore: $hwm_after_restore_kib}}')
    echo "$result" >"$OUT/$kind.json"
    summary=$(jq --argjson r "$result" '. + [$r]' <<<"$summary")
    bc_log "$kind: save ${save_ms} ms, restore ${restore_ms} ms, archive $size bytes, peak RSS ${hwm_before}/${hwm_save}/${hwm_restore} KiB"
    bc_stop
done
echo "$summary" | tee "$OUT/summary.json"
