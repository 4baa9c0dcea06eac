//! What the router-level tests share: one request through the router (no sockets) and a
//! single node initialized (Shamir 1/1), unsealed, with the engines registered.

#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, ClientAddr, router};

/// A response as the tests look at it.
pub(crate) struct Answer {
    /// The status.
    pub(crate) status: StatusCode,
    /// The `Location` header, if any.
    pub(crate) location: Option<String>,
    /// The JSON body (`Null` when empty or not JSON).
    pub(crate) body: Value,
}

/// Sends `method uri` (the full request target, `/v1/...`) with an optional token and body.
pub(crate) async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("x-vault-token", t);
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        location,
        body,
    }
}

/// `call` from the client address `remote` (`ip:port`) and with extra headers.
pub(crate) async fn call_from(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    remote: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("x-vault-token", t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ClientAddr {
        remote: Some(remote.parse::<SocketAddr>().unwrap()),
        forwarded_from: None,
        local: None,
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

/// A fresh in-memory node with the engines registered, initialized with one Shamir key and
/// unsealed; answers its state and the root token.
pub(crate) async fn unsealed_node() -> (AppState, String) {
    unsealed_node_with(CoreOptions {
        backends: tresor_engines::registry(),
        audit_types: tresor_audit::registry(),
        ..CoreOptions::default()
    })
    .await
}

/// Like [`unsealed_node`], with the core built from `options`.
pub(crate) async fn unsealed_node_with(options: CoreOptions) -> (AppState, String) {
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        options,
        Arc::new(SingleNode::default()),
    );
    init_unseal(AppState::new(core)).await
}

/// Initializes (one Shamir key) and unseals the node behind `state`; answers it and the root
/// token.
pub(crate) async fn init_unseal(state: AppState) -> (AppState, String) {
    let init = call(
        &state,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    let key = init.body["keys_base64"][0].as_str().unwrap().to_owned();
    let root = init.body["root_token"].as_str().unwrap().to_owned();
    let unseal = call(
        &state,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    assert_eq!(unseal.status, StatusCode::OK, "{}", unseal.body);
    assert_eq!(unseal.body["sealed"], false);
    (state, root)
}
