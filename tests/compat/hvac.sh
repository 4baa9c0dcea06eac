#!/usr/bin/env bash
# Runs a subset of hvac 2.4.0's integration tests against a fresh server.
#
#   tests/compat/hvac.sh tresor|openbao
#
# Starts the server (tests/compat/lib.sh), runs the tests through the plugin
# ../shared/compat/hvac_external/hvac_external.py, and compares each test's outcome with
#   tests/compat/hvac-expected-failures.txt          (tresor)
#   tests/compat/hvac-expected-failures.openbao.txt  (openbao)
# Fails if a test fails that is not listed; warns for listed tests that pass.
# Results: target/compat/hvac-KIND.xml (junit), hvac-KIND-outcomes.json,
# hvac-KIND-summary.txt, hvac-KIND-pytest.log, hvac-KIND-server.log.
#
# Environment: HVAC_TIMEOUT (seconds for the pytest run, default 1200), SHARED_DIR
# (default: ../shared beside the repo), HVAC_TESTS (space-separated test paths, overrides
# the default subset), and those of lib.sh.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
compat_init hvac "${1:-}"

HVAC_DIR="$COMPAT_TOOLS/hvac-2.4.0"
SHARED_DIR="${SHARED_DIR:-$COMPAT_ROOT/../shared}"
PLUGIN_DIR="$SHARED_DIR/compat/hvac_external"
[[ -d "$HVAC_DIR/tests/integration_tests" ]] || compat_die "no hvac sources at $HVAC_DIR: run scripts/ci-deps.sh"
[[ -f "$PLUGIN_DIR/hvac_external.py" ]] || compat_die "no plugin at $PLUGIN_DIR/hvac_external.py"

case "$SERVER_KIND" in
tresor) EXPECTED="$COMPAT_ROOT/tests/compat/hvac-expected-failures.txt" ;;
openbao) EXPECTED="$COMPAT_ROOT/tests/compat/hvac-expected-failures.openbao.txt" ;;
esac
[[ -f "$EXPECTED" ]] || compat_die "no expected-failures file $EXPECTED"

SYS=tests/integration_tests/api/system_backend
DEFAULT_TESTS="$SYS/test_init.py $SYS/test_seal.py $SYS/test_health.py $SYS/test_leader.py
  $SYS/test_key.py $SYS/test_policy.py $SYS/test_policies.py $SYS/test_mount.py $SYS/test_auth.py
  $SYS/test_lease.py
  tests/integration_tests/api/auth_methods/test_token.py
  tests/integration_tests/api/auth_methods/test_approle.py
  tests/integration_tests/api/secrets_engines/test_kv_v1.py
  tests/integration_tests/api/secrets_engines/test_kv_v2.py
  tests/integration_tests/api/secrets_engines/test_transit.py"
# Split on spaces and newlines (read -d '' stops only at the end, hence the || true).
read -r -d '' -a TESTS <<<"${HVAC_TESTS:-$DEFAULT_TESTS}" || true

OUT_PREFIX="$COMPAT_OUT/hvac-$SERVER_KIND"
rm -f "$OUT_PREFIX.xml" "$OUT_PREFIX-outcomes.json" "$OUT_PREFIX-summary.txt" "$OUT_PREFIX-pytest.log"

compat_start_server

compat_log "running ${#TESTS[@]} hvac test files (timeout ${HVAC_TIMEOUT:-1200}s), log $OUT_PREFIX-pytest.log"
set +e
(
    cd "$HVAC_DIR"
    env -u VAULT_TOKEN -u BAO_TOKEN -u VAULT_ADDR -u BAO_ADDR \
        HVAC_EXTERNAL_ADDR="$SERVER_ADDR" \
        HVAC_EXTERNAL_STATE="$SERVER_DIR/hvac_external_state.json" \
        COMPAT_OUTCOMES="$OUT_PREFIX-outcomes.json" \
        PYTHONPATH="$PLUGIN_DIR:$COMPAT_ROOT/tests/compat" \
        PYTHONDONTWRITEBYTECODE=1 \
        timeout --kill-after=30 "${HVAC_TIMEOUT:-1200}" \
        "$COMPAT_PYTHON" -m pytest -p hvac_external -p hvac_outcomes -p no:xdist -p no:randomly \
        -p no:cacheprovider -o addopts="" -o junit_family=xunit1 -rfE --tb=short \
        --junitxml="$OUT_PREFIX.xml" "${TESTS[@]}" </dev/null
) >"$OUT_PREFIX-pytest.log" 2>&1
PYTEST_CODE=$?
set -e
compat_log "pytest exited with $PYTEST_CODE; its closing lines:"
tail -n 40 "$OUT_PREFIX-pytest.log" | sed 's/^/    /'

compat_stop_server

"$COMPAT_PYTHON" "$COMPAT_ROOT/tests/compat/hvac_compare.py" \
    "$OUT_PREFIX-outcomes.json" "$EXPECTED" "$OUT_PREFIX-summary.txt" "$PYTEST_CODE"
