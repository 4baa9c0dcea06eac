//! Auth methods through the router: userpass and AppRole logins give tokens with the right
//! policies, display name and a stable entity; bad credentials, foreign addresses and spent
//! secret ids are refused; the audit entry of a login hashes the new token.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, ClientAddr, router};

use common::{Answer, call};

const HOME: &str = "127.0.0.1:40000";
const FAR: &str = "10.20.30.40:40000";

/// `call`, from the client address `from`.
async fn call_from(
    state: &AppState,
    from: &str,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("x-vault-token", t);
    }
    let mut req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let remote: SocketAddr = from.parse().unwrap();
    req.extensions_mut().insert(ClientAddr {
        remote: Some(remote),
        ..ClientAddr::default()
    });
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location: None,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A node with the engines and the auth methods registered, `kv/` mounted (v1) holding
/// `kv/app`, a `reader` policy (read on `kv/*`), and the given auth method at `auth/<path>`.
async fn node(kind: &str, path: &str) -> (AppState, String) {
    let mut backends = tresor_engines::registry();
    tresor_auth::register(&mut backends);
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            backends,
            audit_types: tresor_audit::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    let state = AppState::new(core);
    let init = call(
        &state,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let key = init.body["keys_base64"][0].as_str().unwrap().to_owned();
    let root = init.body["root_token"].as_str().unwrap().to_owned();
    call(
        &state,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    let ok = |a: Answer| assert!(a.status.is_success(), "{} {}", a.status, a.body);
    ok(call(
        &state,
        "POST",
        "/v1/sys/mounts/kv",
        Some(&root),
        Some(json!({"type": "kv"})),
    )
    .await);
    ok(call(
        &state,
        "PUT",
        "/v1/kv/app",
        Some(&root),
        Some(json!({"v": "1"})),
    )
    .await);
    ok(call(
        &state,
        "PUT",
        "/v1/sys/policies/acl/reader",
        Some(&root),
        Some(json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"})),
    )
    .await);
    ok(call(
        &state,
        "POST",
        &format!("/v1/sys/auth/{path}"),
        Some(&root),
        Some(json!({"type": kind})),
    )
    .await);
    (state, root)
}

#[tokio::test]
async fn userpass_login_gives_a_token_that_reads_what_its_policy_allows() {
    let (state, root) = node("userpass", "userpass").await;
    let listed = call(&state, "GET", "/v1/sys/auth", Some(&root), None).await;
    assert_eq!(listed.body["data"]["userpass/"]["type"], "userpass");
    let accessor = listed.body["data"]["userpass/"]["accessor"]
        .as_str()
        .unwrap();
    assert!(accessor.starts_with("auth_userpass_"), "{accessor}");
    let r = call(
        &state,
        "POST",
        "/v1/auth/userpass/users/alice",
        Some(&root),
        Some(json!({"password": "pw", "token_policies": "reader", "token_ttl": "10m"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let login = call_from(
        &state,
        HOME,
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(json!({"password": "pw"})),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let auth = &login.body["auth"];
    assert_eq!(auth["policies"], json!(["default", "reader"]));
    assert_eq!(auth["token_policies"], json!(["default", "reader"]));
    assert_eq!(auth["metadata"]["username"], "alice");
    assert_eq!(auth["lease_duration"], 600);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["token_type"], "service");
    assert_eq!(auth["orphan"], true);
    assert_eq!(auth["mfa_requirement"], Value::Null);
    let entity = auth["entity_id"].as_str().unwrap().to_owned();
    assert!(!entity.is_empty());
    let token = auth["client_token"].as_str().unwrap().to_owned();

    let me = call(
        &state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["display_name"], "userpass-alice");
    assert_eq!(me.body["data"]["path"], "auth/userpass/login/alice");
    assert_eq!(me.body["data"]["entity_id"], entity.as_str());
    let read = call(&state, "GET", "/v1/kv/app", Some(&token), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["data"]["v"], "1");
    let write = call(
        &state,
        "PUT",
        "/v1/kv/app",
        Some(&token),
        Some(json!({"v": "2"})),
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);

    // A second login: another token, the same entity.
    let again = call(
        &state,
        "POST",
        "/v1/auth/userpass/login/alice",
        None,
        Some(json!({"password": "pw"})),
    )
    .await;
    assert_eq!(again.body["auth"]["entity_id"], entity.as_str());
    assert_ne!(again.body["auth"]["client_token"], token.as_str());

    // Renewal stays within the mount's maximum; disabling the method logs everyone out.
    let renewed = call(
        &state,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({"increment": "1h"})),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let r = call(&state, "DELETE", "/v1/sys/auth/userpass", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let gone = call(&state, "GET", "/v1/kv/app", Some(&token), None).await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_vaults_answer() {
    let (state, root) = node("userpass", "up").await;
    call(
        &state,
        "POST",
        "/v1/auth/up/users/bob",
        Some(&root),
        Some(json!({"password": "right"})),
    )
    .await;
    for (user, pw) in [("bob", "wrong"), ("nobody", "right")] {
        let r = call(
            &state,
            "POST",
            &format!("/v1/auth/up/login/{user}"),
            None,
            Some(json!({"password": pw})),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(r.body["errors"], json!(["invalid username or password"]));
    }
}

#[tokio::test]
async fn bound_cidrs_refuse_other_addresses() {
    let (state, root) = node("userpass", "userpass").await;
    call(
        &state,
        "POST",
        "/v1/auth/userpass/users/carol",
        Some(&root),
        Some(json!({"password": "pw", "token_bound_cidrs": ["127.0.0.0/8"]})),
    )
    .await;
    let body = Some(json!({"password": "pw"}));
    let far = call_from(
        &state,
        FAR,
        "POST",
        "/v1/auth/userpass/login/carol",
        None,
        body.clone(),
    )
    .await;
    assert_eq!(far.status, StatusCode::FORBIDDEN, "{}", far.body);
    let home = call_from(
        &state,
        HOME,
        "POST",
        "/v1/auth/userpass/login/carol",
        None,
        body,
    )
    .await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let token = home.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let here = call_from(
        &state,
        HOME,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(here.status, StatusCode::OK);
    let there = call_from(
        &state,
        FAR,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        there.status,
        StatusCode::FORBIDDEN,
        "the token works only from its CIDRs"
    );
}

/// Writes the AppRole role `app` with `body` and returns its role id.
async fn approle_role(state: &AppState, root: &str, body: Value) -> String {
    let r = call(
        state,
        "POST",
        "/v1/auth/approle/role/app",
        Some(root),
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    call(
        state,
        "GET",
        "/v1/auth/approle/role/app/role-id",
        Some(root),
        None,
    )
    .await
    .body["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn approle_secret(state: &AppState, root: &str, body: Value) -> String {
    let r = call(
        state,
        "POST",
        "/v1/auth/approle/role/app/secret-id",
        Some(root),
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["secret_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn approle_login_num_uses_and_secret_id_cidrs() {
    let (state, root) = node("approle", "approle").await;
    let role_id = approle_role(
        &state,
        &root,
        json!({"token_policies": ["reader"], "secret_id_num_uses": 2}),
    )
    .await;
    let secret = approle_secret(&state, &root, json!({})).await;
    let login = |secret: String| {
        let (state, role_id) = (state.clone(), role_id.clone());
        async move {
            call_from(
                &state,
                HOME,
                "POST",
                "/v1/auth/approle/login",
                None,
                Some(json!({"role_id": role_id, "secret_id": secret})),
            )
            .await
        }
    };
    let first = login(secret.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["auth"]["policies"], json!(["default", "reader"]));
    assert_eq!(first.body["auth"]["metadata"]["role_name"], "app");
    let token = first.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = call(&state, "GET", "/v1/kv/app", Some(&token), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let me = call(
        &state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["display_name"], "approle");

    let second = login(secret.clone()).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(
        second.body["auth"]["entity_id"],
        first.body["auth"]["entity_id"]
    );
    let third = login(secret).await;
    assert_eq!(third.status, StatusCode::BAD_REQUEST, "{}", third.body);
    assert_eq!(third.body["errors"], json!(["invalid role or secret ID"]));

    // A secret id bound to 127.0.0.1 is refused from elsewhere.
    let bound = approle_secret(&state, &root, json!({"cidr_list": ["127.0.0.1/32"]})).await;
    let far = call_from(
        &state,
        FAR,
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(json!({"role_id": role_id, "secret_id": bound})),
    )
    .await;
    assert_eq!(far.status, StatusCode::BAD_REQUEST, "{}", far.body);
    assert!(
        far.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("unauthorized")
    );
    assert_eq!(login(bound).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_audit_entry_of_a_login_hashes_the_new_token() {
    let (state, root) = node("userpass", "userpass").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = call(
        &state,
        "PUT",
        "/v1/sys/audit/file",
        Some(&root),
        Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.body);
    call(
        &state,
        "POST",
        "/v1/auth/userpass/users/dave",
        Some(&root),
        Some(json!({"password": "hunter2"})),
    )
    .await;
    let login = call(
        &state,
        "POST",
        "/v1/auth/userpass/login/dave",
        None,
        Some(json!({"password": "hunter2"})),
    )
    .await;
    let token = login.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(&token),
        "plaintext login token in the audit log"
    );
    assert!(
        !text.contains("hunter2"),
        "plaintext password in the audit log"
    );
    let response = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["type"] == "response" && e["request"]["path"] == "auth/userpass/login/dave")
        .expect("a response entry for the login");
    let hashed = response["response"]["auth"]["client_token"]
        .as_str()
        .unwrap();
    assert!(hashed.starts_with("hmac-sha256:"), "{response}");
    assert_eq!(response["response"]["auth"]["policies"], json!(["default"]));
    assert_eq!(
        response["response"]["auth"]["display_name"],
        "userpass-dave"
    );
    assert_eq!(response["request"]["mount_type"], "userpass");
}

#[tokio::test]
async fn renewal_asks_the_auth_method() {
    let (state, root) = node("userpass", "userpass").await;
    let user = |policies: &str| {
        let (state, root, policies) = (state.clone(), root.clone(), policies.to_owned());
        async move {
            let r = call(
                &state,
                "POST",
                "/v1/auth/userpass/users/erin",
                Some(&root),
                Some(json!({"password": "pw", "token_policies": policies})),
            )
            .await;
            assert!(r.status.is_success(), "{}", r.body);
        }
    };
    user("reader").await;
    let login = call(
        &state,
        "POST",
        "/v1/auth/userpass/login/erin",
        None,
        Some(json!({"password": "pw"})),
    )
    .await;
    let token = login.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let accessor = login.body["auth"]["accessor"].as_str().unwrap().to_owned();
    let renew = |path: &'static str, who: Option<String>, body: Value| {
        let state = state.clone();
        async move { call(&state, "POST", path, who.as_deref(), Some(body)).await }
    };
    let ok = renew("/v1/auth/token/renew-self", Some(token.clone()), json!({})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // The user's policies change: the old token is no longer renewed, by any of the paths.
    user("reader,writer").await;
    let refused = renew("/v1/auth/token/renew-self", Some(token.clone()), json!({})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(
        refused.body["errors"],
        json!(["policies have changed, not renewing"])
    );
    let by_accessor = renew(
        "/v1/auth/token/renew-accessor",
        Some(root.clone()),
        json!({"accessor": accessor}),
    )
    .await;
    assert_eq!(
        by_accessor.status,
        StatusCode::BAD_REQUEST,
        "{}",
        by_accessor.body
    );
    // Gone entirely.
    call(
        &state,
        "DELETE",
        "/v1/auth/userpass/users/erin",
        Some(&root),
        None,
    )
    .await;
    let gone = renew(
        "/v1/auth/token/renew",
        Some(root.clone()),
        json!({"token": token}),
    )
    .await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST, "{}", gone.body);
    // Root's own renewals are not affected.
    let own = renew("/v1/auth/token/renew-self", Some(root.clone()), json!({})).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[tokio::test]
async fn a_batch_role_logs_in_with_batch_tokens() {
    let (state, root) = node("approle", "approle").await;
    let role_id = approle_role(
        &state,
        &root,
        json!({"token_policies": ["reader"], "token_type": "batch", "token_ttl": "10m"}),
    )
    .await;
    let secret = approle_secret(&state, &root, json!({})).await;
    let login = call_from(
        &state,
        HOME,
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(json!({"role_id": role_id, "secret_id": secret})),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let auth = &login.body["auth"];
    let token = auth["client_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hvb."), "{token}");
    assert_eq!(auth["token_type"], "batch");
    assert_eq!(auth["accessor"], "");
    assert_eq!(auth["renewable"], false);
    assert_eq!(auth["lease_duration"], 600);
    assert_ne!(auth["entity_id"], "");

    // It reads what its policy allows and nothing else.
    let read = call(&state, "GET", "/v1/kv/app", Some(&token), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let denied = call(
        &state,
        "GET",
        "/v1/sys/policies/acl/reader",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let me = call(
        &state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["type"], "batch", "{}", me.body);
    assert_eq!(me.body["data"]["meta"]["role_name"], "app", "{}", me.body);
    assert_eq!(me.body["data"]["display_name"], "approle");
    // Batch tokens are not renewed.
    let renew = call(
        &state,
        "PUT",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(renew.status, StatusCode::BAD_REQUEST, "{}", renew.body);

    // A periodic role cannot be a batch role.
    let r = call(
        &state,
        "POST",
        "/v1/auth/approle/role/app",
        Some(&root),
        Some(json!({"token_type": "batch", "token_period": "1h"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
