#!/usr/bin/env bash
# Drives a fresh server with the real OpenBao CLI (`bao`), as an operator would:
# init, unseal, status, kv-v2 put/get, a policy, a limited token (read allowed, write 403),
# userpass and approle logins (auth enable/list, login -method=..., the token helper file),
# PKI certificates with leases revoked by `bao lease revoke -prefix`, seal.
#
#   tests/compat/bao-cli.sh tresor|openbao
#
# Every check prints "ok" or "FAIL"; the script exits non-zero after the first failure.
# Results: target/compat/bao-cli-KIND.txt (the checks), bao-cli-KIND-server.log.
set -euo pipefail

# shellcheck source=tests/compat/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
compat_init bao-cli "${1:-}"

BAO="$(compat_bao_bin)" || exit 1
REPORT="$COMPAT_OUT/bao-cli-$SERVER_KIND.txt"
WORK=""
CHECKS=0
: >"$REPORT"

# Output of the last `run`, and its exit code.
OUT=""
RC=0

# run ARGS...: runs `bao ARGS` (stdin from $STDIN if set), captures output and exit code.
run() {
    set +e
    if [[ -n "${STDIN:-}" ]]; then
        OUT="$(printf '%s' "$STDIN" | "$BAO" "$@" 2>&1)"
    else
        OUT="$("$BAO" "$@" 2>&1 </dev/null)"
    fi
    RC=$?
    set -e
}

pass() {
    CHECKS=$((CHECKS + 1))
    printf 'ok   %s\n' "$1" | tee -a "$REPORT"
}

fail() {
    printf 'FAIL %s\n' "$1" | tee -a "$REPORT" >&2
    printf '%s\n' "--- bao exited $RC; output:" "$OUT" | sed 's/^/     /' | tee -a "$REPORT" >&2
    exit 1
}

# expect_rc WANT DESCRIPTION: the last command exited WANT.
expect_rc() {
    if [[ "$RC" -eq "$1" ]]; then pass "$2 (exit $RC)"; else fail "$2: want exit $1, got $RC"; fi
}

# json_get EXPR: evaluates the Python expression EXPR over `d`, the JSON document in $OUT.
json_get() {
    printf '%s' "$OUT" | "$COMPAT_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

compat_start_server
WORK="$SERVER_DIR/cli"
mkdir -p "$WORK"

# The CLI must talk only to our server and never use a token file of the caller.
unset VAULT_TOKEN BAO_TOKEN
export VAULT_ADDR="$SERVER_ADDR" BAO_ADDR="$SERVER_ADDR"
export HOME="$WORK" BAO_CLI_NO_COLOR=1 NO_COLOR=1

# ---- init / unseal / status --------------------------------------------------
run operator init -key-shares=3 -key-threshold=2 -format=json
expect_rc 0 "bao operator init -key-shares=3 -key-threshold=2"
KEY1="$(json_get 'd["unseal_keys_b64"][0]')"
KEY2="$(json_get 'd["unseal_keys_b64"][1]')"
ROOT="$(json_get 'd["root_token"]')"
NKEYS="$(json_get 'len(d["unseal_keys_b64"])')"
[[ "$NKEYS" == 3 && -n "$ROOT" ]] || fail "init: want 3 keys and a root token, got $NKEYS keys"
pass "init returned 3 unseal keys and a root token"

run status
expect_rc 2 "bao status while sealed"

run operator unseal "$KEY1"
expect_rc 0 "bao operator unseal (1 of 2)"
run operator unseal -format=json "$KEY2"
expect_rc 0 "bao operator unseal (2 of 2)"
[[ "$(json_get 'd["sealed"]')" == false ]] || fail "unseal: still sealed after 2 of 2 keys"
pass "unsealed after the threshold"

run status
expect_rc 0 "bao status after unseal"

export BAO_TOKEN="$ROOT" VAULT_TOKEN="$ROOT"

# A single raft node needs a moment after unseal to become active; wait for it.
deadline=$((SECONDS + 30))
while :; do
    run read -format=json sys/leader
    if [[ "$RC" -eq 0 && "$(json_get 'd["data"]["is_self"]' 2>/dev/null)" == true ]]; then
        break
    fi
    ((SECONDS < deadline)) || fail "node did not become active within 30s (sys/leader)"
    sleep 0.2
done
pass "node is the active leader"

# ---- kv v2 ---------------------------------------------------------------------
run secrets list -format=json
expect_rc 0 "bao secrets list"
if [[ "$(json_get '"secret/" in d')" == true ]]; then
    pass "secret/ already mounted; not enabling it"
else
    run secrets enable -path=secret -version=2 kv
    expect_rc 0 "bao secrets enable -path=secret -version=2 kv"
fi

# A new kv-v2 mount may refuse writes for a moment while it sets itself up.
deadline=$((SECONDS + 30))
while :; do
    run kv put secret/app user=alice pass=s3cret
    [[ "$RC" -eq 0 ]] && break
    ((SECONDS < deadline)) || break
    sleep 0.5
done
expect_rc 0 "bao kv put secret/app user=alice pass=s3cret"

run kv get -format=json secret/app
expect_rc 0 "bao kv get secret/app (root)"
[[ "$(json_get 'd["data"]["data"]["user"]')" == alice ]] || fail "kv get: user is not alice"
[[ "$(json_get 'd["data"]["data"]["pass"]')" == s3cret ]] || fail "kv get: pass is not s3cret"
[[ "$(json_get 'd["data"]["metadata"]["version"]')" == 1 ]] || fail "kv get: version is not 1"
pass "kv get returned user=alice pass=s3cret version 1"

# ---- policy and a limited token ------------------------------------------------
STDIN='path "secret/data/app" {
  capabilities = ["read"]
}
' run policy write app-read -
expect_rc 0 "bao policy write app-read - (policy from stdin)"

run policy read app-read
expect_rc 0 "bao policy read app-read"
[[ "$OUT" == *'secret/data/app'* ]] || fail "policy read: the rules are not returned"
pass "policy read returns the rules"

run token create -policy=app-read -format=json
expect_rc 0 "bao token create -policy=app-read"
APP_TOKEN="$(json_get 'd["auth"]["client_token"]')"
[[ -n "$APP_TOKEN" && "$APP_TOKEN" != "$ROOT" ]] || fail "token create: no new client_token"
[[ "$(json_get '"app-read" in d["auth"]["policies"]')" == true ]] || fail "token create: app-read not in policies"
pass "token created with policy app-read"

BAO_TOKEN="$APP_TOKEN" VAULT_TOKEN="$APP_TOKEN" run kv get -format=json secret/app
expect_rc 0 "bao kv get secret/app with the app-read token"
[[ "$(json_get 'd["data"]["data"]["user"]')" == alice ]] || fail "kv get (app-read): user is not alice"
pass "app-read token reads user=alice"

BAO_TOKEN="$APP_TOKEN" VAULT_TOKEN="$APP_TOKEN" run kv put secret/app x=y
[[ "$RC" -ne 0 ]] || fail "kv put with the app-read token succeeded"
[[ "$OUT" == *"Code: 403"* ]] || fail "kv put with the app-read token: no 403 in the error"
pass "bao kv put secret/app x=y with the app-read token is denied with 403 (exit $RC)"

run kv get -format=json secret/app
[[ "$(json_get 'd["data"]["metadata"]["version"]')" == 1 ]] || fail "the denied write changed the secret"
pass "the denied write left the secret at version 1"

# ---- auth methods: userpass and approle logins ---------------------------------
run auth enable userpass
expect_rc 0 "bao auth enable userpass"
run auth enable approle
expect_rc 0 "bao auth enable approle"
run auth list -format=json
expect_rc 0 "bao auth list"
[[ "$(json_get '"userpass/" in d and "approle/" in d')" == true ]] || fail "auth list: userpass/ or approle/ missing"
pass "auth list shows userpass/ and approle/"

run write auth/userpass/users/alice password=pw1 token_policies=app-read
expect_rc 0 "bao write auth/userpass/users/alice"
# (with no token in the environment: the CLI warns on stderr when one is set)
BAO_TOKEN="" VAULT_TOKEN="" run login -method=userpass -format=json username=alice password=pw1
expect_rc 0 "bao login -method=userpass username=alice"
UP_TOKEN="$(json_get 'd["auth"]["client_token"]')"
[[ "$(json_get '"app-read" in d["auth"]["policies"]')" == true ]] || fail "userpass login: app-read not in policies"
[[ "$(json_get 'd["auth"]["metadata"]["username"]')" == alice ]] || fail "userpass login: metadata.username is not alice"
[[ "$(cat "$HOME/.vault-token" 2>/dev/null)" == "$UP_TOKEN" ]] || fail "userpass login: token not stored in ~/.vault-token"
pass "userpass login stored a token with policy app-read"
# The stored token is used when no token is in the environment.
BAO_TOKEN="" VAULT_TOKEN="" run kv get -format=json secret/app
expect_rc 0 "bao kv get secret/app with the stored userpass token"
pass "the stored userpass token reads secret/app"
BAO_TOKEN="" VAULT_TOKEN="" run login -method=userpass username=alice password=wrong
[[ "$RC" -ne 0 && "$OUT" == *"invalid username or password"* ]] || fail "userpass login with a wrong password"
pass "wrong password refused with 'invalid username or password' (exit $RC)"

run write auth/approle/role/app token_policies=app-read secret_id_num_uses=5
expect_rc 0 "bao write auth/approle/role/app"
run read -format=json auth/approle/role/app/role-id
expect_rc 0 "bao read auth/approle/role/app/role-id"
ROLE_ID="$(json_get 'd["data"]["role_id"]')"
run write -format=json -f auth/approle/role/app/secret-id
expect_rc 0 "bao write -f auth/approle/role/app/secret-id"
SECRET_ID="$(json_get 'd["data"]["secret_id"]')"
# The bao CLI has no AppRole login helper ("Unknown auth method: approle", as Vault's CLI):
# an AppRole login is a write to auth/approle/login, and `bao login TOKEN` stores its token.
BAO_TOKEN="" VAULT_TOKEN="" run write -format=json auth/approle/login role_id="$ROLE_ID" secret_id="$SECRET_ID"
expect_rc 0 "bao write auth/approle/login role_id=... secret_id=..."
AR_TOKEN="$(json_get 'd["auth"]["client_token"]')"
[[ "$(json_get 'd["auth"]["metadata"]["role_name"]')" == app ]] || fail "approle login: metadata.role_name is not app"
[[ "$(json_get '"app-read" in d["auth"]["policies"]')" == true ]] || fail "approle login: app-read not in policies"
pass "approle login returned a token with policy app-read"
BAO_TOKEN="" VAULT_TOKEN="" run login -no-print "$AR_TOKEN"
expect_rc 0 "bao login TOKEN (the approle token)"
[[ "$(cat "$HOME/.vault-token")" == "$AR_TOKEN" ]] || fail "bao login TOKEN did not store the approle token"
pass "the approle token is stored in ~/.vault-token"
BAO_TOKEN="$AR_TOKEN" VAULT_TOKEN="$AR_TOKEN" run kv get -format=json secret/app
expect_rc 0 "bao kv get secret/app with the approle token"
rm -f "$HOME/.vault-token"

# ---- leases: pki certificates with leases, bao lease lookup / revoke -prefix --------
# (as seed 002's emergency runbook revokes credentials by prefix)
run secrets enable pki
expect_rc 0 "bao secrets enable pki"
run write -format=json pki/root/generate/internal common_name=example.com ttl=24h
expect_rc 0 "bao write pki/root/generate/internal"
run write pki/roles/web allowed_domains=example.com allow_subdomains=true generate_lease=true max_ttl=1h
expect_rc 0 "bao write pki/roles/web generate_lease=true"
LEASES=()
for host in a b c; do
  run write -format=json pki/issue/web common_name="$host.example.com" ttl=10m
  expect_rc 0 "bao write pki/issue/web common_name=$host.example.com"
  LEASES+=("$(json_get 'd["lease_id"]')")
done
[[ "${LEASES[0]}" == pki/issue/web/* ]] || fail "pki/issue lease id ${LEASES[0]} is not under pki/issue/web/"
run list -format=json sys/leases/lookup/pki/issue/web/
expect_rc 0 "bao list sys/leases/lookup/pki/issue/web/"
[[ "$(json_get 'len(d)')" == 3 ]] || fail "sys/leases/lookup lists $(json_get 'len(d)') leases, not 3"
pass "three leases listed under pki/issue/web/"
run lease lookup -format=json "${LEASES[0]}"
expect_rc 0 "bao lease lookup ID"
[[ "$(json_get 'd["data"]["id"]')" == "${LEASES[0]}" ]] || fail "bao lease lookup: wrong id"
run lease revoke -prefix pki/issue/web/
expect_rc 0 "bao lease revoke -prefix pki/issue/web/"
run list -format=json sys/leases/lookup/pki/issue/web/
expect_rc 2 "bao list sys/leases/lookup/pki/issue/web/ after revoke -prefix (nothing left)"
run lease lookup "${LEASES[1]}"
[[ "$RC" != 0 ]] || fail "bao lease lookup of a revoked lease succeeded"
pass "a revoked lease is gone"
run list -format=json pki/certs/revoked
expect_rc 0 "bao list pki/certs/revoked"
[[ "$(json_get 'len(d)')" == 3 ]] || fail "pki/certs/revoked lists $(json_get 'len(d)') certificates, not 3"
pass "revoking the leases revoked the three certificates"

# ---- seal ----------------------------------------------------------------------
run operator seal
expect_rc 0 "bao operator seal"
run status
expect_rc 2 "bao status after seal"

compat_stop_server
echo "bao-cli: $CHECKS checks passed against $SERVER_KIND" | tee -a "$REPORT"
