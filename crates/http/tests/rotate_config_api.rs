//! `sys/rotate/config` (and `sys/rotate/keyring/config`) through the router: defaults,
//! validation errors as 400, a stored change, and `sys/key-status` counting encryptions.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, router};

async fn call(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!("/v1/{path}"))
        .header("X-Vault-Token", token)
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, v)
}

#[tokio::test]
async fn rotate_config_reads_validates_and_stores() {
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions::default(),
        Arc::new(SingleNode::default()),
    );
    let s = AppState::new(core);
    let (_, init) = call(
        &s,
        "",
        "PUT",
        "sys/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let key = init["keys"][0].as_str().unwrap().to_owned();
    let token = init["root_token"].as_str().unwrap().to_owned();
    call(&s, "", "PUT", "sys/unseal", Some(json!({ "key": key }))).await;

    let (code, body) = call(&s, &token, "GET", "sys/rotate/config", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"enabled": true, "max_operations": 3_865_470_566u64, "interval": "0s"})
    );

    let (code, body) = call(
        &s,
        &token,
        "POST",
        "sys/rotate/config",
        Some(json!({"interval": "1h"})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0],
        "interval must be greater or equal to 24h0m0s"
    );
    let (code, body) = call(
        &s,
        &token,
        "POST",
        "sys/rotate/keyring/config",
        Some(json!({"max_operations": 10})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0],
        "max_operations must be in the range [1000000,3865470566]"
    );

    let (code, body) = call(
        &s,
        &token,
        "POST",
        "sys/rotate/keyring/config",
        Some(json!({"max_operations": 2_000_000, "interval": "48h", "enabled": false})),
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
    let (_, body) = call(&s, &token, "GET", "sys/rotate/config", None).await;
    assert_eq!(
        body["data"],
        json!({"enabled": false, "max_operations": 2_000_000, "interval": "48h0m0s"})
    );

    let (code, body) = call(&s, &token, "GET", "sys/key-status", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["data"]["encryptions"].as_u64().unwrap() > 0, "{body}");
}
