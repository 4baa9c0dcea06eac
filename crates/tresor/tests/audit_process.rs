//! Audit devices with real processes: a device declared in the server configuration is
//! created on activation, cannot be disabled through the API, and writes to a fresh file
//! after SIGHUP (logrotate's postrotate); a request a standby forwarded is recorded by the
//! active node with the client's address and the forwarding standby.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;
use tresor_testkit::process;

use std::path::Path;
use std::time::Duration;

use cluster::Cluster;
use process::{Server, body, wait_for};
use serde_json::{Value, json};

fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn mentions(entries: &[Value], path: &str) -> usize {
    entries
        .iter()
        .filter(|e| e["request"]["path"] == path)
        .count()
}

#[test]
fn a_declared_file_device_records_and_reopens_on_sighup() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("audit.log");
    let mut s = Server::start_with(&format!(
        r#"
audit "file" "main" {{
  description = "declared in the config"
  options {{
    file_path = "{}"
  }}
}}
"#,
        log.display()
    ));
    s.init_unseal(1, 1);
    wait_for("the declared device", Duration::from_secs(20), || {
        let listed = body(s.get("sys/audit"));
        (listed["data"]["main/"]["type"] == "file").then_some(())
    });
    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(
        s.put("secret/app", json!({"password": "pl41n-s3cret"}))
            .status(),
        204
    );
    let first = entries(&log);
    assert_eq!(mentions(&first, "secret/app"), 2, "request and response");
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("pl41n-s3cret")
    );

    // Declared devices are managed by the configuration only.
    let r = s.req("DELETE", "sys/audit/main").send().unwrap();
    assert_eq!(r.status(), 400);

    // logrotate moves the file and signals the server: the next entries go to a new file.
    let rotated = logs.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    s.signal("HUP");
    wait_for("the reopened audit file", Duration::from_secs(20), || {
        assert_eq!(s.get("secret/app").status(), 200);
        (mentions(&entries(&log), "secret/app") >= 2).then_some(())
    });
    // The moved file keeps what was written before the signal.
    assert!(mentions(&entries(&rotated), "secret/app") >= 2);
}

#[test]
fn a_forwarded_request_is_recorded_with_the_client_and_the_standby() {
    let c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("audit.log");
    let r = c.put(
        leader,
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    assert_eq!(
        c.post(leader, "sys/mounts/secret", json!({"type": "kv"}))
            .status(),
        204
    );
    let standby = (0..3).find(|&i| i != leader).unwrap();
    assert_eq!(
        c.put(standby, "secret/via-standby", json!({"v": "1"}))
            .status(),
        204
    );
    let all = entries(&log);
    let forwarded: Vec<&Value> = all
        .iter()
        .filter(|e| e["request"]["path"] == "secret/via-standby")
        .collect();
    assert_eq!(forwarded.len(), 2, "{all:#?}");
    let standby_port = c.nodes[standby].port;
    for e in forwarded {
        assert_eq!(e["request"]["remote_address"], "127.0.0.1", "{e}");
        assert!(e["request"]["remote_port"].as_u64().unwrap_or(0) > 0, "{e}");
        assert_eq!(
            e["forwarded_from"],
            format!("127.0.0.1:{standby_port}"),
            "{e}"
        );
    }
}
