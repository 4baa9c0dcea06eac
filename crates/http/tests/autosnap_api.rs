//! `sys/storage/raft/snapshot-auto/config[/:name]` and `.../status/:name` over HTTP: status
//! codes, validation errors naming their field, `sudo`, and a scheduled run visible in the
//! status.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use common::{Answer, call, unsealed_node};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tresor_autosnap::{SnapshotSource, SourceError};
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::AppState;

const CONFIG: &str = "/v1/sys/storage/raft/snapshot-auto/config";
const STATUS: &str = "/v1/sys/storage/raft/snapshot-auto/status";

fn errors(a: &Answer) -> String {
    a.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {}", a.body))
        .iter()
        .map(|e| e.as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn configs_are_created_read_listed_updated_and_deleted() {
    let (state, root) = unsealed_node().await;
    let t = Some(root.as_str());
    let none = call(&state, "LIST", CONFIG, t, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    let w = call(
        &state,
        "POST",
        &format!("{CONFIG}/daily"),
        t,
        Some(
            json!({"interval": "24h", "retain": "7", "path_prefix": "/var/snaps",
                    "storage_type": "local", "local_max_space": 1_000_000}),
        ),
    )
    .await;
    assert_eq!(w.status, StatusCode::NO_CONTENT, "{}", w.body);
    let s3 = call(
        &state,
        "PUT",
        &format!("{CONFIG}/offsite"),
        t,
        Some(
            json!({"interval": 3600, "path_prefix": "vault/", "storage_type": "aws-s3",
                    "aws_s3_bucket": "b", "aws_s3_region": "eu-west-1",
                    "aws_s3_server_side_encryption": true,
                    "aws_access_key_id": "AK", "aws_secret_access_key": "SECRET"}),
        ),
    )
    .await;
    assert_eq!(s3.status, StatusCode::NO_CONTENT, "{}", s3.body);

    let r = call(&state, "GET", &format!("{CONFIG}/daily"), t, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["interval"], json!(86_400));
    assert_eq!(d["retain"], json!(7));
    assert_eq!(d["path_prefix"], json!("/var/snaps"));
    assert_eq!(d["file_prefix"], json!("vault-snapshot"));
    assert_eq!(d["storage_type"], json!("local"));
    assert_eq!(d["local_max_space"], json!(1_000_000));

    let r = call(&state, "GET", &format!("{CONFIG}/offsite"), t, None).await;
    let d = &r.body["data"];
    assert_eq!(d["aws_s3_bucket"], json!("b"));
    assert_eq!(d["aws_s3_server_side_encryption"], json!(true));
    assert_eq!(d["aws_s3_enable_kms"], json!(false));
    assert!(
        !r.body.to_string().contains("SECRET"),
        "the secret key is never read back: {}",
        r.body
    );

    let l = call(&state, "LIST", CONFIG, t, None).await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.body);
    assert_eq!(l.body["data"]["keys"], json!(["daily", "offsite"]));
    let l = call(&state, "GET", &format!("{CONFIG}?list=true"), t, None).await;
    assert_eq!(l.body["data"]["keys"], json!(["daily", "offsite"]));

    // An update changes only what it sends; the storage type is fixed at creation.
    let u = call(
        &state,
        "POST",
        &format!("{CONFIG}/daily"),
        t,
        Some(json!({"retain": 3})),
    )
    .await;
    assert_eq!(u.status, StatusCode::NO_CONTENT, "{}", u.body);
    let r = call(&state, "GET", &format!("{CONFIG}/daily"), t, None).await;
    assert_eq!(r.body["data"]["retain"], json!(3));
    assert_eq!(r.body["data"]["interval"], json!(86_400));
    let u = call(
        &state,
        "POST",
        &format!("{CONFIG}/daily"),
        t,
        Some(json!({"storage_type": "aws-s3"})),
    )
    .await;
    assert_eq!(u.status, StatusCode::BAD_REQUEST, "{}", u.body);
    assert!(errors(&u).contains("storage_type"), "{}", u.body);

    // A status exists for every config, before any run.
    let st = call(&state, "GET", &format!("{STATUS}/daily"), t, None).await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    for field in [
        "consecutive_errors",
        "last_snapshot_start",
        "last_snapshot_end",
        "last_snapshot_error",
        "last_snapshot_url",
        "next_snapshot_start",
        "snapshot_start",
        "snapshot_url",
    ] {
        assert!(st.body["data"].get(field).is_some(), "{field}: {}", st.body);
    }
    assert_eq!(st.body["data"]["consecutive_errors"], json!(0));
    assert_ne!(st.body["data"]["next_snapshot_start"], json!(""));

    let del = call(&state, "DELETE", &format!("{CONFIG}/daily"), t, None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    let r = call(&state, "GET", &format!("{CONFIG}/daily"), t, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let st = call(&state, "GET", &format!("{STATUS}/daily"), t, None).await;
    assert_eq!(st.status, StatusCode::NOT_FOUND, "{}", st.body);
    let l = call(&state, "LIST", CONFIG, t, None).await;
    assert_eq!(l.body["data"]["keys"], json!(["offsite"]));
}

#[tokio::test]
async fn invalid_configs_are_400_with_errors_naming_the_field() {
    let (state, root) = unsealed_node().await;
    let t = Some(root.as_str());
    let cases: &[(Value, &[&str])] = &[
        (json!({}), &["interval", "path_prefix", "storage_type"]),
        (
            json!({"interval": "often", "path_prefix": "/p", "storage_type": "local"}),
            &["interval"],
        ),
        (
            json!({"interval": 60, "path_prefix": "/p", "storage_type": "tape"}),
            &["storage_type"],
        ),
        (
            json!({"interval": 60, "path_prefix": "/p", "storage_type": "local", "retain": 0}),
            &["retain"],
        ),
        (
            json!({"interval": 60, "path_prefix": "p", "storage_type": "aws-s3"}),
            &["aws_s3_bucket", "aws_s3_region"],
        ),
        (
            json!({"interval": 60, "path_prefix": "/p", "storage_type": "local",
                   "aws_s3_bucket": "b"}),
            &["aws_s3_bucket"],
        ),
        (
            json!({"interval": 60, "path_prefix": "/p", "storage_type": "local",
                   "local_max_space": "big"}),
            &["local_max_space"],
        ),
    ];
    for (body, fields) in cases {
        let a = call(
            &state,
            "POST",
            &format!("{CONFIG}/bad"),
            t,
            Some(body.clone()),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        let msg = errors(&a);
        for f in *fields {
            assert!(msg.contains(f), "{body}: {f} not named in {msg}");
        }
    }
    // Nothing was stored.
    let r = call(&state, "GET", &format!("{CONFIG}/bad"), t, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn token_with_policy(state: &AppState, root: &str, name: &str, policy: &str) -> String {
    let p = call(
        state,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(root),
        Some(json!({ "policy": policy })),
    )
    .await;
    assert_eq!(p.status, StatusCode::NO_CONTENT, "{}", p.body);
    let t = call(
        state,
        "POST",
        "/v1/auth/token/create",
        Some(root),
        Some(json!({ "policies": [name] })),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    t.body["auth"]["client_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn configs_need_sudo_and_the_status_does_not() {
    let (state, root) = unsealed_node().await;
    let caps = r#"["create", "read", "update", "delete", "list"]"#;
    let plain = token_with_policy(
        &state,
        &root,
        "snap-plain",
        &format!(r#"path "sys/storage/raft/snapshot-auto/*" {{ capabilities = {caps} }}"#),
    )
    .await;
    let sudo = token_with_policy(
        &state,
        &root,
        "snap-sudo",
        r#"path "sys/storage/raft/snapshot-auto/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }"#,
    )
    .await;
    let body = json!({"interval": 60, "path_prefix": "/p", "storage_type": "local"});
    let w = call(
        &state,
        "POST",
        &format!("{CONFIG}/x"),
        Some(&plain),
        Some(body.clone()),
    )
    .await;
    assert_eq!(w.status, StatusCode::FORBIDDEN, "{}", w.body);
    let w = call(
        &state,
        "POST",
        &format!("{CONFIG}/x"),
        Some(&sudo),
        Some(body),
    )
    .await;
    assert_eq!(w.status, StatusCode::NO_CONTENT, "{}", w.body);
    for (method, uri) in [
        ("GET", format!("{CONFIG}/x")),
        ("LIST", CONFIG.to_owned()),
        ("DELETE", format!("{CONFIG}/x")),
    ] {
        let a = call(&state, method, &uri, Some(&plain), None).await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            a.body
        );
    }
    let st = call(&state, "GET", &format!("{STATUS}/x"), Some(&plain), None).await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    // Without a token at all: refused.
    let a = call(&state, "GET", &format!("{CONFIG}/x"), None, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
}

/// A snapshot source writing a few fixed bytes.
struct Bytes;

#[async_trait]
impl SnapshotSource for Bytes {
    async fn write_snapshot(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, SourceError> {
        out.write_all(b"snapshot bytes").await?;
        Ok(14)
    }
}

#[tokio::test]
async fn the_active_node_takes_snapshots_and_reports_them_in_the_status() {
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    core.set_snapshot_source(Arc::new(Bytes));
    let state = AppState::new(core.clone());
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
    let u = call(
        &state,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.body);

    let dir = tempfile::tempdir().unwrap();
    let w = call(
        &state,
        "POST",
        &format!("{CONFIG}/fast"),
        Some(&root),
        Some(
            json!({"interval": "1s", "path_prefix": dir.path().to_str().unwrap(),
                    "storage_type": "local", "file_prefix": "tresor"}),
        ),
    )
    .await;
    assert_eq!(w.status, StatusCode::NO_CONTENT, "{}", w.body);

    // Wait (bounded) for the first run to finish.
    let mut status = Value::Null;
    for _ in 0..300 {
        let st = call(&state, "GET", &format!("{STATUS}/fast"), Some(&root), None).await;
        assert_eq!(st.status, StatusCode::OK, "{}", st.body);
        if st.body["data"]["last_snapshot_end"] != json!("") {
            status = st.body["data"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(status, Value::Null, "no snapshot within 15 s");
    assert_eq!(status["last_snapshot_error"], json!(""), "{status}");
    assert_eq!(status["consecutive_errors"], json!(0));
    let url = status["last_snapshot_url"].as_str().unwrap();
    let path = url.strip_prefix("file://").unwrap();
    assert!(path.contains("/tresor-"), "{url}");
    assert_eq!(std::fs::read(path).unwrap(), b"snapshot bytes");
    time::OffsetDateTime::parse(
        status["last_snapshot_start"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();

    // Sealing stops the scheduler: the directory no longer changes (retain=1 would replace
    // the file every second otherwise). Absence can only be shown by letting time pass.
    let s = call(&state, "PUT", "/v1/sys/seal", Some(&root), None).await;
    assert_eq!(s.status, StatusCode::NO_CONTENT, "{}", s.body);
    assert!(core.is_sealed());
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = names();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(before, names(), "no snapshot after the node sealed");
}
