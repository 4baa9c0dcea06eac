//! The unauthenticated join challenge endpoint through the router (no sockets): an oversized
//! `server_id` is refused with 400 before any work, a normal one gets a challenge.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tresor_core::MAX_SERVER_ID_LEN;
use tresor_http::AppState;

async fn call(state: &AppState, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let a = common::call(state, method, &format!("/v1/{path}"), None, Some(body)).await;
    (a.status, a.body)
}

#[tokio::test]
async fn an_oversized_server_id_is_refused_and_a_normal_one_is_challenged() {
    let (s, _root) = common::unsealed_node().await;

    const PATH: &str = "sys/storage/raft/bootstrap/challenge";
    let huge = "x".repeat(20 * 1024 * 1024);
    // 20 MB is refused by the listener's JSON string limit before the endpoint sees it.
    let (code, body) = call(&s, "PUT", PATH, json!({ "server_id": huge })).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");

    let just_over = "x".repeat(MAX_SERVER_ID_LEN + 1);
    let (code, body) = call(&s, "PUT", PATH, json!({ "server_id": just_over })).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let msg = body["errors"][0].as_str().unwrap();
    assert!(msg.contains("server_id is too long"), "{msg}");
    assert!(msg.contains(&MAX_SERVER_ID_LEN.to_string()), "{msg}");
    let (code, _) = call(
        &s,
        "PUT",
        "sys/storage/raft/bootstrap/answer",
        json!({ "server_id": "x".repeat(MAX_SERVER_ID_LEN + 1), "cluster_addr": "https://127.0.0.1:1", "answer": "AAAA" }),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (code, body) = call(&s, "PUT", PATH, json!({ "server_id": "n2" })).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(!body["challenge"].as_str().unwrap().is_empty());
}
