//! Automated snapshots on a three-node cluster of real processes: the active node writes
//! real snapshot archives on schedule into a local directory, keeps `retain` of them, and
//! after the leader is killed the node that takes over carries the schedule on; the archives
//! pass `operator raft snapshot inspect` (checksums verified offline).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::path::Path;
use std::time::{Duration, SystemTime};

use cluster::Cluster;
use serde_json::json;

/// The archives of the `every-second` config, oldest first by modification time.
fn archives(dir: &Path) -> Vec<(std::path::PathBuf, SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with("tresor-auto-") && name.ends_with(".snap")
        })
        .map(|e| (e.path(), e.metadata().unwrap().modified().unwrap()))
        .collect();
    v.sort_by_key(|(_, t)| *t);
    v
}

#[test]
fn automated_snapshots_keep_their_schedule_and_retention_across_a_leader_change() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    assert_eq!(
        c.post(leader, "sys/mounts/secret", json!({"type": "kv"}))
            .status(),
        204
    );
    assert_eq!(c.put(leader, "secret/a", json!({"v": "1"})).status(), 204);
    let dir = tempfile::tempdir().unwrap();
    let r = c.put(
        leader,
        "sys/storage/raft/snapshot-auto/config/every-second",
        json!({
            "interval": "1s",
            "retain": 2,
            "storage_type": "local",
            "path_prefix": dir.path().to_str().unwrap(),
            "file_prefix": "tresor-auto",
            "local_max_space": 1_000_000_000u64,
        }),
    );
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    // Several runs on the first leader: retention keeps two.
    c.wait_for("three automated snapshots", Duration::from_secs(30), |c| {
        let st = c.get(leader, "sys/storage/raft/snapshot-auto/status/every-second");
        let v: serde_json::Value = st.json().ok()?;
        let runs = archives(dir.path()).len();
        (runs == 2
            && v["data"]["last_snapshot_error"]
                .as_str()
                .unwrap_or("")
                .is_empty())
        .then_some(())
    });
    let before = archives(dir.path());
    assert_eq!(before.len(), 2, "retain = 2");

    // The leader dies; the next active node takes snapshots under the same config.
    c.kill9(leader);
    let killed_at = SystemTime::now();
    let next = c.wait_leader(Some(leader), Duration::from_secs(20));
    c.wait_for(
        "an automated snapshot by the new leader",
        Duration::from_secs(30),
        |_| {
            let now = archives(dir.path());
            (now.len() == 2 && now.iter().all(|(_, t)| *t > killed_at)).then_some(())
        },
    );
    let st: serde_json::Value = c
        .get(next, "sys/storage/raft/snapshot-auto/status/every-second")
        .json()
        .unwrap();
    assert_eq!(st["data"]["last_snapshot_error"], "", "{st}");
    assert!(
        st["data"]["last_snapshot_url"]
            .as_str()
            .unwrap()
            .contains("tresor-auto-"),
        "{st}"
    );

    // The archive is a real snapshot: inspect verifies its checksums offline and lists the
    // data written before.
    let newest = archives(dir.path()).pop().unwrap().0;
    let out = c.cli(
        next,
        &[
            "operator",
            "raft",
            "snapshot",
            "inspect",
            "-format=json",
            newest.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        inspected["info"]["Index"].as_u64().unwrap_or(0) > 0,
        "{inspected}"
    );
    assert!(
        inspected["total_count"].as_u64().unwrap_or(0) > 0,
        "{inspected}"
    );
}
