//! Hostile request bodies through the router (no sockets): JSON nested 100,000 deep, JSON past
//! each `max_json_*` limit, and an HCL policy nested 100,000 deep are 400s, never a crash.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, JsonLimits, router};
use tresor_seal::{Seal, TestSeal};

fn state(limits: JsonLimits) -> AppState {
    let seal = Arc::new(TestSeal::new());
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            seals: vec![seal as Arc<dyn Seal>],
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    AppState {
        json_limits: limits,
        ..AppState::new(core)
    }
}

async fn call(s: &AppState, path: &str, token: &str, body: String) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1/{path}"))
        .header("x-vault-token", token)
        .body(Body::from(body))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

/// Initialises the node (auto seal: it comes up unsealed) and returns the root token.
async fn root_token(s: &AppState) -> String {
    let (code, init) = call(
        s,
        "sys/init",
        "",
        json!({"recovery_shares": 1, "recovery_threshold": 1}).to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{init}");
    init["root_token"].as_str().unwrap().to_owned()
}

fn first_error(v: &Value) -> String {
    v["errors"][0].as_str().unwrap_or_default().to_owned()
}

fn deep_json(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

#[tokio::test]
async fn json_body_nested_100_000_deep_is_a_400() {
    let s = state(JsonLimits::default());
    let deep = deep_json(100_000);
    // a raw endpoint, before initialisation
    let (code, body) = call(&s, "sys/init", "", deep.clone()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        first_error(&body),
        "JSON input exceeds allowed nesting depth"
    );
    let token = root_token(&s).await;
    // the logical pipeline and another raw endpoint
    for path in [
        "sys/policies/acl/deep",
        "secret/x",
        "sys/unseal",
        "sys/rekey/init",
    ] {
        let (code, body) = call(&s, path, &token, deep.clone()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(
            first_error(&body),
            "JSON input exceeds allowed nesting depth"
        );
    }
    // nested objects too
    let deep_objects = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let (code, _) = call(&s, "sys/policies/acl/deep", &token, deep_objects).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn depth_between_serde_and_the_limit_is_still_a_400() {
    // serde_json refuses nesting past 128 even when max_json_depth allows 300.
    let s = state(JsonLimits::default());
    let (code, body) = call(&s, "sys/init", "", format!("{{\"a\": {}}}", deep_json(200))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        first_error(&body).contains("failed to parse JSON input"),
        "{body}"
    );
}

#[tokio::test]
async fn hcl_policy_nested_100_000_deep_is_a_400() {
    let s = state(JsonLimits::default());
    let token = root_token(&s).await;
    let policy = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (code, body) = call(
        &s,
        "sys/policies/acl/deep",
        &token,
        json!({ "policy": policy }).to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(first_error(&body).contains("maximum depth"), "{body}");
    // the server is still serving
    let (code, body) = call(
        &s,
        "sys/policies/acl/ok",
        &token,
        json!({"policy": "path \"a/*\" { capabilities = [\"read\"] }"}).to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn each_configured_limit_is_a_400_with_vaults_message() {
    let s = state(JsonLimits {
        max_depth: 4,
        max_string_value_length: 40,
        max_object_entry_count: 3,
        max_array_element_count: 3,
    });
    let token = root_token(&s).await;
    let path = "sys/policies/acl/limits";
    let cases = [
        (
            json!({"a": [[[[1]]]]}),
            "JSON input exceeds allowed nesting depth",
        ),
        (
            json!({"a": "x".repeat(41)}),
            "JSON string value exceeds allowed length",
        ),
        (
            json!({"a": 1, "b": 2, "c": 3, "d": 4}),
            "JSON object exceeds allowed entry count",
        ),
        (
            json!({"a": [1, 2, 3, 4]}),
            "JSON array exceeds allowed element count",
        ),
    ];
    for (body, message) in cases {
        let (code, answer) = call(&s, path, &token, body.to_string()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(first_error(&answer), message);
    }
    // at every limit at once: accepted (the policy is 40 bytes once unescaped)
    let policy = "path \"a/*\" {\n  capabilities = [\"read\"]\n}";
    assert_eq!(policy.len(), 40);
    let at_limits = json!({"policy": policy, "a": [[[1, 2, 3]]], "b": "x"});
    let (code, answer) = call(&s, path, &token, at_limits.to_string()).await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{answer}");
}
