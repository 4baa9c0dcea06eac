#!/usr/bin/env bash
# The long differential run: Tresor against the real OpenBao server, 100,000 seeded cases by
# default (crates/difftest). Builds the tresor binary and the difftest runner (dev profile),
# starts both dev servers, prints the case count, the difference categories with examples
# and, for each failing case, the seed and index that replay it:
#
#   bash bench/difftest.sh [CASES] [SEED]            (defaults: 100000, 1)
#   DIFFTEST_SEED=1 DIFFTEST_CASE=4711 cargo test -p tresor-difftest --test differential -- --nocapture
#
# Environment: DIFFTEST_THREADS (default 4), DIFFTEST_MAX_FAILURES (stop after that many
# failing cases, default 50; 0 = never), BAO_BIN (default .tools/bin/bao, installed by
# scripts/ci-deps.sh), TRESOR_BIN (default: the freshly built target/debug/tresor),
# SKIP_BUILD=1 (use the existing build).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CASES="${1:-100000}"
SEED="${2:-1}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build -p tresor -p tresor-difftest --bins
fi
export TRESOR_BIN="${TRESOR_BIN:-$TARGET_DIR/debug/tresor}"
[[ -x "$TRESOR_BIN" ]] || { echo "no tresor binary at $TRESOR_BIN (cargo build -p tresor)" >&2; exit 1; }
if [[ -z "${BAO_BIN:-}" && ! -x "$ROOT/.tools/bin/bao" ]]; then
    echo "no OpenBao binary at .tools/bin/bao (bash scripts/ci-deps.sh) and BAO_BIN unset" >&2
    exit 1
fi
exec "$TARGET_DIR/debug/difftest" "$CASES" "$SEED"
