//! The raw sys endpoints of a node with an auto seal, through the router (no sockets):
//! `sys/init` and `sys/seal-status` JSON shapes, recovery-key rekey routes, health while
//! sealed.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, router};
use tresor_seal::{Seal, TestSeal};

fn state(seal: &Arc<TestSeal>) -> AppState {
    let physical = Arc::new(tresor_storage::InMemBackend::new());
    let core = Core::new(
        physical,
        CoreOptions {
            seals: vec![seal.clone() as Arc<dyn Seal>],
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    AppState {
        core,
        max_request_size: 0,
        max_request_duration: Duration::from_secs(30),
        json_limits: Default::default(),
        metrics: Default::default(),
        raw_switches: Default::default(),
    }
}

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!("/v1/{path}"))
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
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
async fn init_and_seal_status_report_recovery_keys() {
    let seal = Arc::new(TestSeal::new());
    let s = state(&seal);
    let (code, st) = call(&s, "GET", "sys/seal-status", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(st["type"], "test");
    assert_eq!(st["initialized"], false);
    assert_eq!(st["recovery_seal"], true);

    let (code, init) = call(
        &s,
        "PUT",
        "sys/init",
        Some(json!({"recovery_shares": 3, "recovery_threshold": 2, "secret_shares": null})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{init}");
    assert_eq!(init["keys"], json!([]));
    assert_eq!(init["keys_base64"], json!([]));
    assert_eq!(init["recovery_keys"].as_array().unwrap().len(), 3);
    assert_eq!(init["recovery_keys_base64"].as_array().unwrap().len(), 3);
    assert!(init["root_token"].as_str().unwrap().starts_with("hvs."));

    let (_, st) = call(&s, "GET", "sys/seal-status", None).await;
    assert_eq!(st["type"], "test");
    assert_eq!(st["sealed"], false);
    assert_eq!(st["initialized"], true);
    assert_eq!((st["t"].as_u64(), st["n"].as_u64()), (Some(2), Some(3)));
    assert_eq!(st["recovery_seal"], true);
    assert_eq!(st["recovery_seal_type"], "shamir");

    // Barrier rekey is refused; the recovery rekey routes answer.
    let (code, body) = call(
        &s,
        "PUT",
        "sys/rekey/init",
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0].as_str().unwrap().contains("recovery"),
        "{body}"
    );
    let (code, body) = call(
        &s,
        "PUT",
        "sys/rekey-recovery-key/init",
        Some(json!({"secret_shares": 5, "secret_threshold": 3})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        (body["n"].as_u64(), body["required"].as_u64()),
        (Some(5), Some(2))
    );
    let nonce = body["nonce"].as_str().unwrap().to_owned();
    let keys = init["recovery_keys"].as_array().unwrap();
    call(
        &s,
        "PUT",
        "sys/rekey-recovery-key/update",
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    let (code, done) = call(
        &s,
        "PUT",
        "sys/rekey-recovery-key/update",
        Some(json!({"key": keys[1], "nonce": nonce})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{done}");
    assert_eq!(done["complete"], true);
    assert_eq!(done["keys"].as_array().unwrap().len(), 5);
    let (_, st) = call(&s, "GET", "sys/seal-status", None).await;
    assert_eq!((st["t"].as_u64(), st["n"].as_u64()), (Some(3), Some(5)));
}

#[tokio::test]
async fn health_is_503_while_the_seal_is_unavailable() {
    let seal = Arc::new(TestSeal::new());
    let s = state(&seal);
    let (code, _) = call(&s, "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&s, "GET", "sys/health", None).await;
    assert_eq!(code, StatusCode::OK);

    s.core.seal().await.unwrap();
    seal.set_available(false);
    let err = s.core.auto_unseal().await.unwrap_err();
    assert!(err.to_string().contains("test seal: unavailable"), "{err}");
    let (code, body) = call(&s, "GET", "sys/health", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["sealed"], true);
    seal.set_available(true);
    assert!(s.core.auto_unseal().await.unwrap());
    let (code, _) = call(&s, "GET", "sys/health", None).await;
    assert_eq!(code, StatusCode::OK);
}
