//! Audit devices end to end through the router: `sys/audit` enable/list/disable, entries in
//! Vault's shape with hashed tokens and secrets, `sys/audit-hash`, request headers, filters,
//! and fail-closed behaviour when no device can write.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use common::{Answer, call, call_from, unsealed_node};
use serde_json::{Value, json};
use tresor_http::AppState;

const SECRET: &str = "hunter2-correct-horse";

/// A node with KV v2 at `secret/` holding `secret/app` = {password: SECRET}.
async fn node_with_secret() -> (AppState, String) {
    let (state, root) = unsealed_node().await;
    let r = call(
        &state,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&root),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = call(
        &state,
        "PUT",
        "/v1/secret/data/app",
        Some(&root),
        Some(json!({"data": {"password": SECRET}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (state, root)
}

async fn enable(state: &AppState, root: &str, path: &str, body: Value) -> Answer {
    call(
        state,
        "PUT",
        &format!("/v1/sys/audit/{path}"),
        Some(root),
        Some(body),
    )
    .await
}

fn entries(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_kv_read_leaves_a_request_and_a_response_entry_with_hashed_token_and_secret() {
    let (state, root) = node_with_secret().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "description": "main", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let listed = call(&state, "GET", "/v1/sys/audit", Some(&root), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"]["file/"]["type"], "file");
    assert_eq!(listed.body["data"]["file/"]["description"], "main");
    assert_eq!(
        listed.body["data"]["file/"]["options"]["file_path"],
        log.to_str().unwrap()
    );

    let read = call_from(
        &state,
        "GET",
        "/v1/secret/data/app",
        Some(&root),
        "192.0.2.7:40123",
        &[],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["data"]["data"]["password"], SECRET);

    let hash = |input: &str| {
        let state = state.clone();
        let root = root.clone();
        let input = input.to_owned();
        async move {
            let h = call(
                &state,
                "POST",
                "/v1/sys/audit-hash/file",
                Some(&root),
                Some(json!({ "input": input })),
            )
            .await;
            assert_eq!(h.status, StatusCode::OK, "{}", h.body);
            h.body["data"]["hash"].as_str().unwrap().to_owned()
        }
    };
    let token_hash = hash(&root).await;
    let secret_hash = hash(SECRET).await;
    assert!(token_hash.starts_with("hmac-sha256:"));

    let all = entries(&log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET), "plaintext secret in the audit log");
    assert!(!text.contains(&root), "plaintext token in the audit log");

    let reads: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["request"]["path"] == "secret/data/app" && e["request"]["operation"] == "read"
        })
        .collect();
    assert_eq!(reads.len(), 2, "{reads:#?}");
    let (req, resp) = (reads[0], reads[1]);
    assert_eq!(req["type"], "request");
    assert_eq!(resp["type"], "response");
    assert_eq!(req["request"]["id"], resp["request"]["id"]);
    for e in [req, resp] {
        assert_eq!(e["auth"]["client_token"], token_hash.as_str());
        assert_eq!(e["request"]["client_token"], token_hash.as_str());
        assert_eq!(e["auth"]["policies"], json!(["root"]));
        assert_eq!(e["request"]["mount_point"], "secret/");
        assert_eq!(e["request"]["mount_type"], "kv");
        assert_eq!(e["request"]["namespace"]["id"], "root");
        assert_eq!(e["request"]["remote_address"], "192.0.2.7");
        assert_eq!(e["request"]["remote_port"], 40123);
        assert!(e.get("error").is_none(), "{e}");
    }
    assert!(req.get("response").is_none());
    assert_eq!(
        resp["response"]["data"]["data"]["password"],
        secret_hash.as_str()
    );
    assert_eq!(resp["response"]["mount_type"], "kv");
}

#[tokio::test]
async fn denied_requests_are_recorded_with_their_error() {
    let (state, root) = node_with_secret().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let denied = call_from(
        &state,
        "GET",
        "/v1/secret/data/app",
        Some("not-a-token"),
        "198.51.100.1:1234",
        &[],
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let all = entries(&log);
    let both: Vec<&Value> = all
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/app")
        .collect();
    assert_eq!(both.len(), 2, "{all:#?}");
    for e in &both {
        assert_eq!(e["error"], "permission denied", "{e}");
        assert_eq!(e["auth"]["token_type"], "default");
        assert_eq!(e["request"]["remote_address"], "198.51.100.1");
    }
}

#[tokio::test]
async fn no_device_able_to_write_refuses_the_request_and_withholds_the_secret() {
    let (state, root) = node_with_secret().await;
    // /dev/full takes the open but refuses every write (ENOSPC), like a full disk; mode 0000
    // leaves the device node's permissions alone.
    let r = enable(
        &state,
        &root,
        "full",
        json!({"type": "file", "options": {"file_path": "/dev/full", "mode": "0000"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = call(&state, "GET", "/v1/secret/data/app", Some(&root), None).await;
    assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(read.body, json!({"errors": ["internal error"]}));
    assert!(!read.body.to_string().contains(SECRET));
    // A write is refused before it reaches the backend: nothing changes.
    let write = call(
        &state,
        "PUT",
        "/v1/secret/data/app",
        Some(&root),
        Some(json!({"data": {"password": "changed"}})),
    )
    .await;
    assert_eq!(write.status, StatusCode::INTERNAL_SERVER_ERROR);

    // With a second, working device one success is enough, and the write above never
    // happened.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // Enabling is itself audited: the broken device alone refuses it... unless the new
    // device is the one that records it. It is added only after the change, so this enable
    // fails closed too.
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
}

#[tokio::test]
async fn one_working_device_is_enough_and_bad_options_are_refused() {
    let (state, root) = node_with_secret().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = enable(
        &state,
        &root,
        "full",
        json!({"type": "file", "options": {"file_path": "/dev/full", "mode": "0000"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = call(&state, "GET", "/v1/secret/data/app", Some(&root), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    for (path, body, needle) in [
        ("x", json!({"type": "nope"}), "unknown audit backend type"),
        ("y", json!({"options": {}}), "type is required"),
        (
            "z",
            json!({"type": "file", "options": {"file_path": "/tmp/x.log", "mode": "0755"}}),
            "mode",
        ),
        (
            "p",
            json!({"type": "file", "options": {"file_path": "/tmp/x.log", "prefix": "A"}}),
            "allow_audit_log_prefixing",
        ),
        (
            "file/sub",
            json!({"type": "file", "options": {"file_path": "/tmp/x.log"}}),
            "already in use",
        ),
    ] {
        let r = enable(&state, &root, path, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(r.body.to_string().contains(needle), "{path}: {}", r.body);
    }
    let listed = call(&state, "GET", "/v1/sys/audit", Some(&root), None).await;
    let paths: Vec<&String> = listed.body["data"].as_object().unwrap().keys().collect();
    assert_eq!(paths, vec!["file/", "full/"]);

    let r = call(&state, "DELETE", "/v1/sys/audit/full", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let listed = call(&state, "GET", "/v1/sys/audit", Some(&root), None).await;
    assert!(listed.body["data"].get("full/").is_none());
}

#[tokio::test]
async fn filters_headers_and_the_socket_device() {
    let (state, root) = node_with_secret().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let received = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let (s, _) = listener.accept().await.unwrap();
        let mut lines = tokio::io::BufReader::new(s).lines();
        let mut out = Vec::new();
        // The enable of this very device is the first thing it records (its response entry);
        // read until the write's two entries arrived.
        while let Ok(Some(l)) = lines.next_line().await {
            let e: Value = serde_json::from_str(&l).unwrap();
            if e["request"]["path"] == "secret/data/other" {
                out.push(e);
            }
            if out.len() == 2 || out.len() > 10 {
                break;
            }
        }
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("reads.log");
    // The file device records reads of secret/ only; the socket device records writes only.
    let r = enable(
        &state,
        &root,
        "reads",
        json!({"type": "file", "options": {
            "file_path": log.to_str().unwrap(),
            "filter": "operation == \"read\" and mount_point == \"secret/\"",
            "exclude": "/request/remote_port",
        }}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = call(
        &state,
        "PUT",
        "/v1/sys/config/auditing/request-headers/X-Correlation-Id",
        Some(&root),
        Some(json!({"hmac": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let h = call(
        &state,
        "GET",
        "/v1/sys/config/auditing/request-headers",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(h.body["data"]["headers"]["x-correlation-id"]["hmac"], false);
    let r = enable(
        &state,
        &root,
        "net",
        json!({"type": "socket", "options": {
            "address": addr,
            "socket_type": "tcp",
            "filter": "operation == \"create\" or operation == \"update\"",
        }}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let read = call_from(
        &state,
        "GET",
        "/v1/secret/data/app",
        Some(&root),
        "127.0.0.1:5555",
        &[("x-correlation-id", "abc-123")],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    let write = call(
        &state,
        "PUT",
        "/v1/secret/data/other",
        Some(&root),
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    assert_eq!(write.status, StatusCode::OK, "{}", write.body);

    let file = entries(&log);
    assert!(
        file.iter().all(
            |e| e["request"]["operation"] == "read" && e["request"]["mount_point"] == "secret/"
        ),
        "{file:#?}"
    );
    let app: Vec<&Value> = file
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/app")
        .collect();
    assert_eq!(app.len(), 2);
    assert_eq!(
        app[0]["request"]["headers"]["x-correlation-id"],
        json!(["abc-123"])
    );
    assert!(app[0]["request"].get("remote_port").is_none(), "excluded");
    assert_eq!(app[0]["request"]["remote_address"], "127.0.0.1");

    let net = tokio::time::timeout(std::time::Duration::from_secs(10), received)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(net.len(), 2);
    assert_eq!(net[0]["type"], "request");
    assert_eq!(net[0]["request"]["operation"], "create");
    assert_eq!(net[1]["type"], "response");
}

#[tokio::test]
async fn api_creation_can_be_turned_off() {
    use std::sync::Arc;
    use tresor_core::{AuditSettings, Core, CoreOptions, SingleNode};
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            backends: tresor_engines::registry(),
            audit_types: tresor_audit::registry(),
            audit_settings: AuditSettings {
                declared: Vec::new(),
                allow_prefix: false,
                api_creation: false,
            },
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
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": "discard"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .to_string()
            .contains("unsafe_allow_api_audit_creation")
    );
}

#[tokio::test]
async fn tuned_non_hmac_keys_stay_in_clear() {
    let (state, root) = node_with_secret().await;
    let r = call(
        &state,
        "POST",
        "/v1/sys/mounts/secret/tune",
        Some(&root),
        Some(json!({
            "audit_non_hmac_request_keys": ["options"],
            "audit_non_hmac_response_keys": ["metadata"],
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let w = call(
        &state,
        "PUT",
        "/v1/secret/data/tuned",
        Some(&root),
        Some(json!({"options": {"cas": 0}, "data": {"password": SECRET}})),
    )
    .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.body);
    let read = call(&state, "GET", "/v1/secret/data/tuned", Some(&root), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let all = entries(&log);
    let write = all
        .iter()
        .find(|e| e["type"] == "request" && e["request"]["path"] == "secret/data/tuned")
        .unwrap();
    assert_eq!(write["request"]["data"]["options"], json!({"cas": 0}));
    assert!(
        write["request"]["data"]["data"]["password"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    let answer = all
        .iter()
        .rev()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "secret/data/tuned")
        .unwrap();
    let version = &answer["response"]["data"]["metadata"]["version"];
    assert_eq!(version, &json!(1), "{answer}");
    assert!(
        answer["response"]["data"]["metadata"]["created_time"]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "metadata kept in clear: {answer}"
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains(SECRET));
}
