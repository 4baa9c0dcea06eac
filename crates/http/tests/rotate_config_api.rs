//! `sys/rotate/config` (and `sys/rotate/keyring/config`) through the router: defaults,
//! validation errors as 400, a stored change, and `sys/key-status` counting encryptions.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tresor_http::AppState;

async fn call(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let token = Some(token).filter(|t| !t.is_empty());
    let a = common::call(state, method, &format!("/v1/{path}"), token, body).await;
    (a.status, a.body)
}

#[tokio::test]
async fn rotate_config_reads_validates_and_stores() {
    let (s, token) = common::unsealed_node().await;

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
