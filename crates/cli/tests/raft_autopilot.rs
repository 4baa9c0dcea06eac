//! `operator raft autopilot get-config|set-config|state` against a fake server.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{FakeEnv, FakeServer, cli, envelope};
use serde_json::{Value, json};

fn autopilot_state() -> Value {
    envelope(json!({
        "healthy": false, "failure_tolerance": 0, "leader": "node-1",
        "voters": ["node-1", "node-2", "node-3"], "non_voters": ["node-4"],
        "servers": {
            "node-1": {"id": "node-1", "name": "node-1", "address": "10.0.0.1:8201",
                "node_status": "alive", "last_contact": "0s", "last_term": 3, "last_index": 42,
                "healthy": true, "stable_since": "2026-01-01T00:00:00Z", "status": "leader",
                "version": "0.1.0", "node_type": "voter"},
            "node-3": {"id": "node-3", "name": "node-3", "address": "10.0.0.3:8201",
                "node_status": "left", "last_contact": "1m5s", "last_term": 3, "last_index": 17,
                "healthy": false, "stable_since": "2026-01-01T00:00:00Z", "status": "voter",
                "version": "0.1.0", "node_type": "voter"},
            "node-4": {"id": "node-4", "name": "node-4", "address": "10.0.0.4:8201",
                "node_status": "alive", "last_contact": "12ms", "last_term": 3, "last_index": 42,
                "healthy": true, "stable_since": "2026-01-01T00:00:00Z", "status": "non-voter",
                "version": "0.1.0", "node_type": "non-voter"}
        }
    }))
}

async fn server() -> FakeServer {
    FakeServer::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/v1/sys/storage/raft/autopilot/state") => (200, Some(autopilot_state())),
        ("GET", "/v1/sys/storage/raft/autopilot/configuration") => (
            200,
            Some(envelope(json!({"cleanup_dead_servers": true,
                "dead_server_last_contact_threshold": "10m0s", "last_contact_threshold": "10s",
                "max_trailing_logs": 1000, "min_quorum": 3, "server_stabilization_time": "5s"}))),
        ),
        ("POST", "/v1/sys/storage/raft/autopilot/configuration") => (204, None),
        _ => (404, Some(json!({"errors": []}))),
    })
    .await
}

#[tokio::test]
async fn state_table_lists_summary_and_each_server() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["operator", "raft", "autopilot", "state"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.last().path, "/v1/sys/storage/raft/autopilot/state");
    let line = |prefix: &str| {
        o.out
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
    };
    assert_eq!(line("Healthy").as_deref(), Some("false"), "{}", o.out);
    assert_eq!(line("Failure Tolerance").as_deref(), Some("0"), "{}", o.out);
    assert_eq!(line("Leader").as_deref(), Some("node-1"), "{}", o.out);
    for id in ["node-1", "node-3", "node-4"] {
        assert!(o.out.contains(&format!("Server {id}")), "{}", o.out);
    }
    assert!(o.out.contains("1m5s"), "{}", o.out);
    assert!(o.out.contains("non-voter"), "{}", o.out);
    assert!(o.out.contains("10.0.0.3:8201"), "{}", o.out);

    let o = cli(
        &env,
        &["operator", "raft", "autopilot", "state", "-format=json"],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["data"]["servers"]["node-4"]["status"], "non-voter");
}

#[tokio::test]
async fn config_table_and_set_config_body() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["operator", "raft", "autopilot", "get-config"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(
        o.out
            .lines()
            .any(|l| l.starts_with("Dead Server Last Contact Threshold") && l.ends_with("10m0s")),
        "{}",
        o.out
    );
    assert!(
        o.out
            .lines()
            .any(|l| l.starts_with("Min Quorum") && l.ends_with('3')),
        "{}",
        o.out
    );
    let o = cli(
        &env,
        &[
            "operator",
            "raft",
            "autopilot",
            "set-config",
            "-cleanup-dead-servers=false",
            "-server-stabilization-time=90s",
            "-dead-server-last-contact-threshold=1h",
            "-max-trailing-logs=250",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let last = srv.last();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("POST", "/v1/sys/storage/raft/autopilot/configuration")
    );
    assert_eq!(
        last.body,
        Some(
            json!({"cleanup_dead_servers": false, "server_stabilization_time": "1m30s",
            "dead_server_last_contact_threshold": "1h0m0s", "max_trailing_logs": 250})
        )
    );
}
