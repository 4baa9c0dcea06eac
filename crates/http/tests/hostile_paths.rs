//! The request-path holes an attacker with a limited token tried, one test per row, through
//! the router (no sockets): non-canonical paths are redirected or refused before any
//! decision, and every decision is made on the path the backend serves.
//!
//! The token's policy denies `secret/data/admin/*`, has no `sudo` and may only *create*
//! policies.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use common::{Answer, call};
use serde_json::json;
use tresor_http::AppState;

const LIMITED: &str = r#"
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret/data/admin/*" { capabilities = ["deny"] }
path "auth/token/*" { capabilities = ["create", "read", "update", "list"] }
path "sys/policies/acl/*" { capabilities = ["create"] }
path "sys/mounts/*" { capabilities = ["read"] }
"#;

struct Node {
    state: AppState,
    root: String,
    limited: String,
}

async fn node() -> Node {
    let (state, root) = common::unsealed_node().await;
    let r = Some(root.as_str());
    let mount = json!({"type": "kv", "options": {"version": "2"}});
    let a = call(&state, "POST", "/v1/sys/mounts/secret", r, Some(mount)).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let a = call(
        &state,
        "POST",
        "/v1/secret/data/admin/db",
        r,
        Some(json!({"data": {"password": "hunter2"}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(
        &state,
        "PUT",
        "/v1/sys/policies/acl/limited",
        r,
        Some(json!({ "policy": LIMITED })),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let a = call(
        &state,
        "POST",
        "/v1/auth/token/create",
        r,
        Some(json!({"policies": ["limited"], "no_default_policy": true})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let limited = a.body["auth"]["client_token"].as_str().unwrap().to_owned();
    Node {
        state,
        root,
        limited,
    }
}

fn leaks_secret(a: &Answer) -> bool {
    a.body.to_string().contains("hunter2")
}

#[tokio::test]
async fn double_slash_before_a_denied_secret_redirects_then_denies() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    let a = call(&n.state, "GET", "/v1/secret//data/admin/db", t, None).await;
    assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(a.location.as_deref(), Some("/v1/secret/data/admin/db"));
    assert!(!leaks_secret(&a));
    let a = call(&n.state, "GET", "/v1/secret/data/admin/db", t, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    for path in [
        "/v1/secret/./data/admin/db",
        "/v1/secret/x/../data/admin/db",
        "/v1/secret/data/admin/db/.",
    ] {
        let a = call(&n.state, "GET", path, t, None).await;
        assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT, "{path}");
        assert_eq!(
            a.location.as_deref(),
            Some("/v1/secret/data/admin/db"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn encoded_separators_are_decided_on_the_decoded_path() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    // %2F decodes to the very path the ACL denies.
    let a = call(&n.state, "GET", "/v1/secret%2Fdata/admin%2Fdb", t, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // Encoded separators that would make the path non-canonical are refused outright.
    let a = call(&n.state, "GET", "/v1/secret%2F%2Fdata/admin/db", t, None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = call(
        &n.state,
        "GET",
        "/v1/secret/data/x/%2E%2E/admin/db",
        t,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["errors"][0], "relative paths not supported");
    let a = call(&n.state, "GET", "/v1/secret/data/admin/db%00", t, None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // The root token still reads the secret at its canonical path.
    let a = call(
        &n.state,
        "GET",
        "/v1/secret%2Fdata/admin/db",
        Some(&n.root),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(leaks_secret(&a));
}

#[tokio::test]
async fn listing_accessors_needs_sudo_whatever_the_path() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    let a = call(&n.state, "LIST", "/v1/auth/token//accessors", t, None).await;
    assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(a.location.as_deref(), Some("/v1/auth/token/accessors"));
    for uri in [
        "/v1/auth/token/accessors",
        "/v1/auth/token/accessors/",
        "/v1/auth/token/accessors?list=true",
    ] {
        let method = if uri.contains("list=") { "GET" } else { "LIST" };
        let a = call(&n.state, method, uri, t, None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}: {}", a.body);
    }
    let a = call(
        &n.state,
        "LIST",
        "/v1/auth/token/accessors",
        Some(&n.root),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body["data"]["keys"]
            .as_array()
            .is_some_and(|k| k.len() >= 2)
    );
}

#[tokio::test]
async fn revoke_orphan_of_the_root_token_needs_sudo() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    let body = json!({ "token": n.root });
    let a = call(
        &n.state,
        "POST",
        "/v1/auth/token//revoke-orphan",
        t,
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(a.location.as_deref(), Some("/v1/auth/token/revoke-orphan"));
    for uri in [
        "/v1/auth/token/revoke-orphan",
        "/v1/auth/token%2Frevoke-orphan",
    ] {
        let a = call(&n.state, "POST", uri, t, Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}: {}", a.body);
    }
    let a = call(
        &n.state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&n.root),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "the root token still works");
}

#[tokio::test]
async fn create_only_cannot_rewrite_the_default_policy() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    let evil = json!({"policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }"});
    let before = call(
        &n.state,
        "GET",
        "/v1/sys/policies/acl/default",
        Some(&n.root),
        None,
    )
    .await;
    let a = call(
        &n.state,
        "PUT",
        "/v1/sys/policies/acl/default/",
        t,
        Some(evil.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["errors"][0], "cannot write to a path ending in '/'");
    // Policy names are lower-cased before the decision, and a policy write is an update
    // (as OpenBao asks), which the token may not do, whatever the case of the name.
    for uri in [
        "/v1/sys/policies/acl/DEFAULT",
        "/v1/sys/policy/Default",
        "/v1/sys/policies/acl/Fresh",
    ] {
        let a = call(&n.state, "PUT", uri, t, Some(evil.clone())).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}: {}", a.body);
    }
    let after = call(
        &n.state,
        "GET",
        "/v1/sys/policies/acl/default",
        Some(&n.root),
        None,
    )
    .await;
    assert_eq!(before.body["data"], after.body["data"]);
    // A policy write is an update (as OpenBao asks), new policy or not: create alone
    // writes nothing.
    let a = call(&n.state, "PUT", "/v1/sys/policies/acl/Fresh", t, Some(evil)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = call(
        &n.state,
        "GET",
        "/v1/sys/policies/acl/fresh",
        Some(&n.root),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "nothing was created");
}

#[tokio::test]
async fn mounts_tune_without_a_mount_is_an_error_answer() {
    let n = node().await;
    let r = Some(n.root.as_str());
    for (method, uri) in [
        ("GET", "/v1/sys/mounts/tune"),
        ("POST", "/v1/sys/mounts/tune"),
        ("GET", "/v1/sys/auth/tune"),
        ("GET", "/v1/sys/mounts//tune"),
    ] {
        let a = call(&n.state, method, uri, r, Some(json!({}))).await;
        assert!(
            a.status.is_client_error() || a.status.is_redirection(),
            "{method} {uri}: {} {}",
            a.status,
            a.body
        );
    }
    // The node still serves.
    let a = call(&n.state, "GET", "/v1/sys/mounts/secret/tune", r, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn raw_endpoints_are_matched_exactly_and_declare_sudo() {
    let n = node().await;
    let t = Some(n.limited.as_str());
    let a = call(&n.state, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = call(&n.state, "GET", "/v1/sys/health/", Some(&n.root), None).await;
    assert_eq!(
        a.status,
        StatusCode::NOT_FOUND,
        "only the exact path is the raw endpoint"
    );
    let a = call(&n.state, "GET", "/v1//sys/health", None, None).await;
    assert_eq!(a.status, StatusCode::TEMPORARY_REDIRECT);
    let a = call(&n.state, "PUT", "/v1/sys/seal", t, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "seal needs sudo");
    let a = call(&n.state, "GET", "/v1/sys/seal", Some(&n.root), None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let a = call(
        &n.state,
        "GET",
        "/v1/sys/storage/raft/configuration",
        t,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn listener_switches_turn_the_unauthenticated_ceremonies_off() {
    let mut n = node().await;
    let before = call(&n.state, "GET", "/v1/sys/generate-root/attempt", None, None).await;
    assert_eq!(before.status, StatusCode::OK, "served by default, as Vault");
    n.state.raw_switches = tresor_http::RawSwitches {
        disable_unauthed_generate_root: true,
        disable_unauthed_rekey: true,
    };
    for (method, uri) in [
        ("GET", "/v1/sys/generate-root/attempt"),
        ("PUT", "/v1/sys/generate-root/attempt"),
        ("DELETE", "/v1/sys/generate-root/attempt"),
        ("PUT", "/v1/sys/generate-root/update"),
        ("GET", "/v1/sys/rekey/init"),
        ("PUT", "/v1/sys/rekey/init"),
        ("PUT", "/v1/sys/rekey/update"),
        ("GET", "/v1/sys/rekey-recovery-key/init"),
    ] {
        // Even the root token gets the answer of an endpoint that does not exist.
        let a = call(&n.state, method, uri, Some(&n.root), Some(json!({}))).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
    }
    let a = call(&n.state, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "other raw endpoints are untouched"
    );
}

#[tokio::test]
async fn deleting_a_policy_directory_is_refused_not_reported_done() {
    let n = node().await;
    let r = Some(n.root.as_str());
    for uri in [
        "/v1/sys/policies/acl/root/",
        "/v1/sys/policies/acl/default/",
    ] {
        let a = call(&n.state, "DELETE", uri, r, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
    }
    // Reading a mount's tune through a deeper path finds the mount that serves it.
    let a = call(&n.state, "GET", "/v1/sys/mounts/secret/x/tune", r, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(
        &n.state,
        "POST",
        "/v1/sys/mounts/secret/x/tune",
        r,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "a write tunes only a mount named exactly"
    );
}
