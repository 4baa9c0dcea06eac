#!/usr/bin/env bash
# THE test command: everything CI checks, in order, stopping at the first failing step.
#
#   bash scripts/test.sh
#
# Steps: install test tools (scripts/ci-deps.sh), rustfmt check, clippy -D warnings, the
# test build (which links the tresor binary too), the workspace's Rust tests (cargo nextest,
# or cargo test when nextest is missing), the compat harness's own unit tests, hvac's
# integration tests and the bao CLI scenario against a fresh tresor server.
# Each step prints a banner and its duration; the last line is "N passed, M failed".
#
# Environment:
#   TRESOR_SKIP_COMPAT=1   skip the two server compat steps (quick local runs; CI runs all)
#   CARGO_BUILD_JOBS       parallel rustc jobs (default: the number of CPUs)
#   TRESOR_TEST_THREADS    tests run at once (default: the number of CPUs)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

CPUS="$(nproc 2>/dev/null || echo 2)"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$CPUS}"
TEST_THREADS="${TRESOR_TEST_THREADS:-$CPUS}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# Incremental compilation state is several GB on a cold build and buys nothing on a clean
# clone; a CI run once ran out of disk with it. Set CARGO_INCREMENTAL=1 to keep it locally.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

PASSED=0
FAILED=0
SKIPPED=0
TOTAL_START=$SECONDS

# disk_report WHEN: the free space where target/ lives (a CI run once ran out of it).
disk_report() {
    local free
    free="$(df -Pk . 2>/dev/null | awk 'NR == 2 { printf "%.1f GB", $4 / 1048576 }')"
    echo "disk: ${free:-unknown} free $1 (the test build takes about 2.3 GB)"
}

summary() {
    local line="$PASSED passed, $FAILED failed"
    ((SKIPPED > 0)) && line+=", $SKIPPED skipped"
    echo
    echo "test.sh: all steps took $((SECONDS - TOTAL_START))s"
    echo "$line"
}

# step NAME COMMAND...: runs one step with banners; on failure prints the summary and exits.
step() {
    local name="$1" start=$SECONDS rc
    shift
    echo
    echo "==> [$name] $*"
    "$@"
    rc=$?
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        echo "<== [$name] ok in $((SECONDS - start))s"
    else
        FAILED=$((FAILED + 1))
        echo "<== [$name] FAILED (exit $rc) after $((SECONDS - start))s"
        summary
        exit "$rc"
    fi
}

skip() {
    SKIPPED=$((SKIPPED + 1))
    echo
    echo "--- [$1] skipped: $2"
}

# build_tests and run_rust_tests use cargo-nextest when NEXTEST=1 (set after the deps step),
# cargo test otherwise.
build_tests() {
    if ((NEXTEST)); then
        cargo nextest run --workspace --no-run
    else
        echo "cargo-nextest not found; using cargo test"
        cargo test --workspace --no-run
    fi
}

run_rust_tests() {
    if ((NEXTEST)); then
        cargo nextest run --workspace --no-fail-fast --test-threads "$TEST_THREADS"
    else
        cargo test --workspace --no-fail-fast -- --test-threads "$TEST_THREADS"
    fi
}

run_compat_selftest() {
    PYTHONDONTWRITEBYTECODE=1 .tools/venv/bin/python -m pytest -q -p no:cacheprovider \
        -o addopts="" tests/compat
}

disk_report "at the start"
step deps bash scripts/ci-deps.sh
NEXTEST=0
if cargo nextest --version >/dev/null 2>&1; then
    NEXTEST=1
fi
step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
# The test build. Cargo links target/debug/tresor with it (crates/tresor's integration tests
# run the binary), for the compat steps. A separate `cargo build -p tresor` would compile every
# dependency above tokio a second time, since the tests' dev-dependencies turn on more features:
# ~1.1 GB of disk and minutes of CI.
step build build_tests
disk_report "after the build"
step tests run_rust_tests
step compat-selftest run_compat_selftest
if [[ "${TRESOR_SKIP_COMPAT:-0}" == 1 ]]; then
    skip hvac "TRESOR_SKIP_COMPAT=1"
    skip bao-cli "TRESOR_SKIP_COMPAT=1"
else
    export TRESOR_BIN="${TRESOR_BIN:-$ROOT/target/debug/tresor}"
    step hvac bash tests/compat/hvac.sh tresor
    step bao-cli bash tests/compat/bao-cli.sh tresor
fi
summary
