//! Batch tokens through the router: created with `type=batch` or a batch role, used for
//! requests (policies enforced), looked up, refused where Vault refuses them (children,
//! renewal, revocation, use limits, periods, root), tied to their parent, valid across a
//! keyring rotation, and garbage or tampered tokens answered 403, never 500. Also roles'
//! `token_bound_cidrs`: such tokens (and their children) are refused from other addresses.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use common::{call, call_from, unsealed_node};
use serde_json::{Value, json};
use tresor_http::AppState;

async fn create(state: &AppState, token: &str, path: &str, body: Value) -> Value {
    let r = call(
        state,
        "POST",
        &format!("/v1/{path}"),
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body["auth"].clone()
}

async fn refused(state: &AppState, token: &str, path: &str, body: Value) -> String {
    let r = call(
        state,
        "POST",
        &format!("/v1/{path}"),
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    r.body["errors"][0].as_str().unwrap().to_owned()
}

async fn status_of(state: &AppState, token: &str, method: &str, path: &str) -> StatusCode {
    call(state, method, &format!("/v1/{path}"), Some(token), None)
        .await
        .status
}

async fn setup() -> (AppState, String) {
    let (state, root) = unsealed_node().await;
    let policy = "path \"sys/mounts\" { capabilities = [\"read\"] }\n\
                  path \"auth/token/create*\" { capabilities = [\"create\", \"update\"] }";
    let r = call(
        &state,
        "PUT",
        "/v1/sys/policies/acl/reader",
        Some(&root),
        Some(json!({ "policy": policy })),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    (state, root)
}

#[tokio::test]
async fn batch_tokens_work_and_obey_their_policies() {
    let (state, root) = setup().await;
    let auth = create(
        &state,
        &root,
        "auth/token/create",
        json!({"type": "batch", "policies": ["reader"], "ttl": "1h", "meta": {"team": "ci"}}),
    )
    .await;
    let batch = auth["client_token"].as_str().unwrap().to_owned();
    assert!(batch.starts_with("hvb."), "{batch}");
    assert!(
        batch.len() < 1024,
        "a small batch token stays small: {}",
        batch.len()
    );
    assert_eq!(auth["accessor"], "");
    assert_eq!(auth["token_type"], "batch");
    assert_eq!(auth["renewable"], false);
    assert_eq!(auth["lease_duration"], 3600);

    // Its policies apply, nothing more.
    assert_eq!(
        status_of(&state, &batch, "GET", "sys/mounts").await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&state, &batch, "GET", "sys/policies/acl").await,
        StatusCode::FORBIDDEN
    );
    let me = call(
        &state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&batch),
        None,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["data"]["type"], "batch");
    assert_eq!(me.body["data"]["accessor"], "");
    assert_eq!(me.body["data"]["meta"], json!({"team": "ci"}));
    assert_eq!(me.body["data"]["policies"], json!(["default", "reader"]));
    let caps = call(
        &state,
        "POST",
        "/v1/sys/capabilities-self",
        Some(&batch),
        Some(json!({"paths": ["sys/mounts"]})),
    )
    .await;
    assert_eq!(caps.status, StatusCode::OK, "{}", caps.body);
    assert_eq!(
        caps.body["data"]["capabilities"],
        json!(["read"]),
        "{}",
        caps.body
    );
    let look = call(
        &state,
        "POST",
        "/v1/auth/token/lookup",
        Some(&root),
        Some(json!({ "token": batch })),
    )
    .await;
    assert_eq!(look.body["data"]["type"], "batch");

    // No children, no renewal, no manual revocation.
    assert_eq!(
        refused(
            &state,
            &batch,
            "auth/token/create",
            json!({"policies": ["reader"]})
        )
        .await,
        "batch tokens cannot create more tokens"
    );
    assert_eq!(
        refused(&state, &batch, "auth/token/renew-self", json!({})).await,
        "batch tokens cannot be renewed"
    );
    assert_eq!(
        refused(
            &state,
            &root,
            "auth/token/revoke",
            json!({ "token": batch })
        )
        .await,
        "batch tokens cannot be revoked"
    );
    assert_eq!(
        refused(&state, &batch, "auth/token/revoke-self", json!({})).await,
        "batch tokens cannot be revoked"
    );
    assert_eq!(
        status_of(&state, &batch, "GET", "sys/mounts").await,
        StatusCode::OK
    );

    // Creation rules.
    for (body, msg) in [
        (
            json!({"type": "batch", "policies": ["reader"], "num_uses": 2}),
            "num_uses",
        ),
        (
            json!({"type": "batch", "policies": ["reader"], "period": "1h"}),
            "period",
        ),
        (json!({"type": "batch"}), "root"),
    ] {
        let m = refused(&state, &root, "auth/token/create", body).await;
        assert!(m.contains(msg), "{m}");
    }
}

#[tokio::test]
async fn a_revoked_parent_ends_its_batch_children() {
    let (state, root) = setup().await;
    let parent = create(
        &state,
        &root,
        "auth/token/create",
        json!({"policies": ["reader"], "ttl": "2h"}),
    )
    .await["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let child = create(
        &state,
        &parent,
        "auth/token/create",
        json!({"type": "batch"}),
    )
    .await;
    let child = child["client_token"].as_str().unwrap().to_owned();
    let orphan = create(
        &state,
        &parent,
        "auth/token/create-orphan",
        json!({"type": "batch"}),
    )
    .await;
    assert_eq!(orphan["orphan"], true);
    let orphan = orphan["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        status_of(&state, &child, "GET", "sys/mounts").await,
        StatusCode::OK
    );

    let r = call(
        &state,
        "POST",
        "/v1/auth/token/revoke",
        Some(&root),
        Some(json!({ "token": parent })),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        status_of(&state, &child, "GET", "sys/mounts").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(&state, &orphan, "GET", "sys/mounts").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn batch_tokens_survive_a_keyring_rotation() {
    let (state, root) = setup().await;
    let before = create(
        &state,
        &root,
        "auth/token/create-orphan",
        json!({"type": "batch", "policies": ["reader"]}),
    )
    .await["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(&state, "POST", "/v1/sys/rotate", Some(&root), None).await;
    assert!(r.status.is_success(), "{}", r.body);
    let after = create(
        &state,
        &root,
        "auth/token/create-orphan",
        json!({"type": "batch", "policies": ["reader"]}),
    )
    .await["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for t in [&before, &after] {
        assert_eq!(
            status_of(&state, t, "GET", "sys/mounts").await,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn batch_roles_through_the_router() {
    let (state, root) = setup().await;
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/roles/ci",
        Some(&root),
        Some(json!({"token_type": "batch", "allowed_policies": ["reader"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/roles/ci",
        Some(&root),
        Some(json!({"token_type": "batch", "allowed_policies": ["reader"], "orphan": true, "renewable": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = call(&state, "GET", "/v1/auth/token/roles/ci", Some(&root), None).await;
    assert_eq!(read.body["data"]["token_type"], "batch");
    let auth = create(&state, &root, "auth/token/create/ci", json!({})).await;
    assert_eq!(auth["token_type"], "batch");
    assert_eq!(auth["orphan"], true);
    assert_eq!(auth["policies"], json!(["default", "reader"]));
}

#[tokio::test]
async fn garbage_and_tampered_batch_tokens_are_denied_not_errors() {
    let (state, root) = setup().await;
    let good = create(
        &state,
        &root,
        "auth/token/create",
        json!({"type": "batch", "policies": ["reader"]}),
    )
    .await["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut flipped: Vec<char> = good.chars().collect();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    let long = format!("hvb.{}", "A".repeat(6000));
    for bad in [flipped.as_str(), "hvb.", "hvb.!!", long.as_str()] {
        assert_eq!(
            status_of(&state, bad, "GET", "auth/token/lookup-self").await,
            StatusCode::FORBIDDEN,
            "{bad:.40}"
        );
        let r = call(
            &state,
            "POST",
            "/v1/auth/token/lookup",
            Some(&root),
            Some(json!({ "token": bad })),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
}

#[tokio::test]
async fn bound_cidrs_refuse_other_addresses() {
    let (state, root) = setup().await;
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/roles/net",
        Some(&root),
        Some(json!({"allowed_policies": ["reader"], "token_bound_cidrs": ["10.0.0.0/8"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let svc = create(&state, &root, "auth/token/create/net", json!({})).await;
    let svc = svc["client_token"].as_str().unwrap().to_owned();
    let batch = create(
        &state,
        &root,
        "auth/token/create/net",
        json!({"type": "batch"}),
    )
    .await;
    assert_eq!(batch["token_type"], "batch");
    let batch = batch["client_token"].as_str().unwrap().to_owned();
    for t in [&svc, &batch] {
        let ok = call_from(
            &state,
            "GET",
            "/v1/sys/mounts",
            Some(t),
            "10.2.3.4:5000",
            &[],
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let no = call_from(
            &state,
            "GET",
            "/v1/sys/mounts",
            Some(t),
            "192.0.2.1:5000",
            &[],
        )
        .await;
        assert_eq!(no.status, StatusCode::FORBIDDEN, "{}", no.body);
        let v6 = call_from(
            &state,
            "GET",
            "/v1/sys/mounts",
            Some(t),
            "[2001:db8::1]:5000",
            &[],
        )
        .await;
        assert_eq!(v6.status, StatusCode::FORBIDDEN);
    }
    let bad = call(
        &state,
        "POST",
        "/v1/auth/token/roles/bad",
        Some(&root),
        Some(json!({"token_bound_cidrs": ["10.0.0.0/33"]})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}
