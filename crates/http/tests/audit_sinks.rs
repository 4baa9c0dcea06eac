//! Audit devices against the outside world, through the router:
//! - the `syslog` device writing to a real rsyslogd (its own socket, not `/dev/log`): request
//!   and response entries arrive whole, the token and secret match `sys/audit-hash`, no
//!   plaintext secret; with the daemon stopped and no other device, the request fails closed;
//! - a `file` device on a small tmpfs that fills up: requests fail closed while the disk is
//!   full, every answered request has both its entries in the file, no line is torn, and the
//!   device works again once space is freed;
//! - seed 002's `jq` audit queries, run with the real `jq` over a file device's log, return
//!   the entries they are meant to find.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use common::{Answer, call, call_from, unsealed_node, unsealed_node_with};
use serde_json::{Value, json};
use tresor_core::CoreOptions;
use tresor_http::AppState;
use tresor_sdk::audit::AuditRegistry;
use tresor_testkit::rsyslog::Rsyslog;
use tresor_testkit::tmpfs::Tmpfs;

const SECRET: &str = "s3cret-battery-staple";

async fn put_secret(state: &AppState, root: &str, path: &str) {
    let r = call(
        state,
        "PUT",
        &format!("/v1/secret/data/{path}"),
        Some(root),
        Some(json!({"data": {"password": SECRET}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn with_kv(state: &AppState, root: &str) {
    let r = call(
        state,
        "POST",
        "/v1/sys/mounts/secret",
        Some(root),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
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

async fn audit_hash(state: &AppState, root: &str, device: &str, input: &str) -> String {
    let r = call(
        state,
        "PUT",
        &format!("/v1/sys/audit-hash/{device}"),
        Some(root),
        Some(json!({ "input": input })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["hash"].as_str().unwrap().to_owned()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Polls (the daemon writes asynchronously) until `f` holds for the syslog messages.
async fn wait_messages(sys: &Rsyslog, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let msgs: Vec<Value> = sys
            .messages("tresor-audit")
            .iter()
            .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("torn entry {m:?}: {e}")))
            .collect();
        if f(&msgs) {
            return msgs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; syslog has {msgs:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn syslog_entries_reach_a_real_rsyslogd_and_its_loss_fails_closed() {
    let mut sys = Rsyslog::start();
    let mut audit_types = AuditRegistry::new();
    audit_types.register(Arc::new(tresor_audit::file::FileFactory));
    audit_types.register(Arc::new(tresor_audit::syslog::SyslogFactory {
        socket_path: Some(sys.socket()),
    }));
    let (state, root) = unsealed_node_with(CoreOptions {
        backends: tresor_engines::registry(),
        audit_types,
        ..CoreOptions::default()
    })
    .await;
    with_kv(&state, &root).await;
    put_secret(&state, &root, "app").await;
    let r = enable(
        &state,
        &root,
        "syslog",
        json!({"type": "syslog", "options": {"facility": "AUTH", "tag": "tresor-audit"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let read = call_from(
        &state,
        "GET",
        "/v1/secret/data/app",
        Some(&root),
        "203.0.113.9:5000",
        &[],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let token_hash = audit_hash(&state, &root, "syslog", &root).await;
    let secret_hash = audit_hash(&state, &root, "syslog", SECRET).await;
    let msgs = wait_messages(&sys, "the read's two entries", |m| {
        m.iter()
            .filter(|e| {
                e["request"]["path"] == "secret/data/app" && e["request"]["operation"] == "read"
            })
            .count()
            == 2
    })
    .await;
    let read_entries: Vec<&Value> = msgs
        .iter()
        .filter(|e| {
            e["request"]["path"] == "secret/data/app" && e["request"]["operation"] == "read"
        })
        .collect();
    assert_eq!(read_entries[0]["type"], "request");
    assert_eq!(read_entries[1]["type"], "response");
    for e in &read_entries {
        assert_eq!(e["auth"]["client_token"], token_hash.as_str(), "{e}");
        assert_eq!(e["request"]["remote_address"], "203.0.113.9");
    }
    assert_eq!(
        read_entries[1]["response"]["data"]["data"]["password"],
        secret_hash.as_str()
    );
    let raw = std::fs::read_to_string(sys.auth_log()).unwrap();
    assert!(!raw.contains(SECRET), "plaintext secret in syslog");
    assert!(!raw.contains(&root), "plaintext token in syslog");

    // The daemon goes away: with no other device the read fails and the secret stays in.
    sys.stop();
    let read = call(&state, "GET", "/v1/secret/data/app", Some(&root), None).await;
    assert_eq!(
        read.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        read.body
    );
    assert_eq!(read.body, json!({"errors": ["internal error"]}));
    assert!(!read.body.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_full_disk_fails_closed_and_loses_no_reported_entry() {
    let disk = Tmpfs::mount(256);
    let log = disk.path().join("audit.log");
    let (state, root) = unsealed_node().await;
    with_kv(&state, &root).await;
    put_secret(&state, &root, "app").await;
    let r = enable(
        &state,
        &root,
        "file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // Fill the disk but 64 KiB; reads go on until the log cannot grow, then every read is
    // refused.
    let filler = disk.fill("filler");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(64 * 1024)).unwrap();
    drop(f);
    let mut answered = Vec::new();
    let mut refused = 0;
    for i in 0..400 {
        let r = call(&state, "GET", "/v1/secret/data/app", Some(&root), None).await;
        match r.status {
            StatusCode::OK => answered.push(i),
            StatusCode::INTERNAL_SERVER_ERROR => {
                assert_eq!(r.body, json!({"errors": ["internal error"]}));
                refused += 1;
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
        if refused >= 5 {
            break;
        }
    }
    assert!(refused >= 5, "the disk never filled up");
    assert!(
        answered.len() >= 5,
        "only {} reads answered before the disk was full",
        answered.len()
    );
    let before: Vec<Value> = lines(&log)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")))
        .collect();
    let responses = before
        .iter()
        .filter(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/data/app"
                && e["request"]["operation"] == "read"
        })
        .count();
    assert!(
        responses >= answered.len(),
        "{} reads answered but only {responses} response entries in the log",
        answered.len()
    );

    // Space again: reads are answered and recorded.
    std::fs::remove_file(filler).unwrap();
    let r = call(&state, "GET", "/v1/secret/data/app", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = lines(&log);
    assert!(after.len() > before.len());
    for l in &after {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}"));
    }
}

/// Runs the real `jq` with `args` over the file `log`; its output lines.
fn jq(log: &Path, args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("jq")
        .args(args)
        .arg(log)
        .output()
        .expect("run jq (apt package jq, scripts/ci-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `jq -c FILTER`: one JSON value per line.
fn jq_values(log: &Path, filter: &str) -> Vec<Value> {
    jq(log, &["-c", filter])
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn seed_jq_queries_find_the_right_entries() {
    let (state, root) = unsealed_node().await;
    with_kv(&state, &root).await;
    put_secret(&state, &root, "webapp/production").await;
    put_secret(&state, &root, "other").await;
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
    let r = call(
        &state,
        "PUT",
        "/v1/sys/policies/acl/webapp",
        Some(&root),
        Some(json!({"policy": "path \"secret/data/webapp/*\" { capabilities = [\"read\"] }"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["webapp"]})),
    )
    .await;
    let app = r.body["auth"]["client_token"].as_str().unwrap().to_owned();

    // The application reads its secret from 10.0.1.45 (twice) and is denied another one;
    // an operator reads the application's secret with the root token from 10.0.9.9.
    for _ in 0..2 {
        let r = call_from(
            &state,
            "GET",
            "/v1/secret/data/webapp/production",
            Some(&app),
            "10.0.1.45:40000",
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = call_from(
        &state,
        "GET",
        "/v1/secret/data/other",
        Some(&app),
        "10.0.1.45:40001",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call_from(
        &state,
        "GET",
        "/v1/secret/data/webapp/production",
        Some(&root),
        "10.0.9.9:40002",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // "Find all accesses to a specific secret path": 3 reads, a request and a response each.
    let path = jq_values(
        &log,
        r#"select(.request.path == "secret/data/webapp/production")"#,
    );
    assert_eq!(path.len(), 6, "{path:#?}");
    assert!(path.iter().all(|e| e["request"]["operation"] == "read"));

    // "Find all denied requests": the denied read, with its path and (hashed) error.
    let denied = jq_values(
        &log,
        r#"select(.response.data.error != null) | {time: .time, path: .request.path, error: .response.data.error}"#,
    );
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["path"], "secret/data/other");
    assert!(
        denied[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert!(denied[0]["time"].is_string());

    // "Find all requests from a specific IP": the application's three requests, both entries.
    let ip = jq_values(&log, r#"select(.request.remote_address == "10.0.1.45")"#);
    assert_eq!(ip.len(), 6, "{ip:#?}");
    assert!(
        ip.iter()
            .all(|e| e["request"]["remote_port"].as_u64().unwrap() >= 40000)
    );

    // "Count requests per path": request entries only, one line per request.
    let per_path = jq(
        &log,
        &["-r", r#"select(.type == "request") | .request.path"#],
    );
    assert_eq!(
        per_path
            .iter()
            .filter(|p| *p == "secret/data/webapp/production")
            .count(),
        3
    );
    assert_eq!(
        per_path
            .iter()
            .filter(|p| *p == "secret/data/other")
            .count(),
        1
    );

    // "Find all root token usage": the operator's read (and the setup calls made with root),
    // never the application's requests.
    let rooted = jq_values(&log, r#"select(.auth.policies | index("root"))"#);
    assert!(!rooted.is_empty());
    assert!(
        rooted
            .iter()
            .all(|e| e["request"]["remote_address"] != "10.0.1.45"),
        "{rooted:#?}"
    );
    assert!(
        rooted
            .iter()
            .any(|e| e["request"]["remote_address"] == "10.0.9.9"
                && e["request"]["path"] == "secret/data/webapp/production")
    );
}
