//! Seed 002's disaster recovery by snapshot (scenario 2 "quorum lost, restore" and scenario 3
//! "complete loss"): every node of a cluster is gone; a brand-new node is initialized on its
//! own, the last snapshot is restored with `-force` (the new node's keys differ, so it seals
//! and is unsealed with the old cluster's keys), and two more new nodes join it through
//! `retry_join` and serve the restored data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;
use tresor_testkit::process;

use std::time::Duration;

use cluster::{Cluster, Node, client_with_timeout};
use serde_json::{Value, json};

fn secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

#[test]
fn a_lost_cluster_is_restored_from_a_snapshot_onto_new_nodes() {
    // The cluster that is lost, and its last snapshot (saved with the CLI, as a backup job).
    let mut old = Cluster::start(3);
    let leader = old.wait_leader(None, Duration::from_secs(10));
    assert_eq!(
        old.post(leader, "sys/mounts/secret", json!({"type": "kv"}))
            .status(),
        204
    );
    for (k, v) in [("db", "s3cr3t"), ("api", "k3y")] {
        assert_eq!(
            old.put(leader, &format!("secret/{k}"), json!({"v": v}))
                .status(),
            204
        );
    }
    let backup = tempfile::tempdir().unwrap();
    let file = backup.path().join("latest.snap");
    let out = old.cli(
        leader,
        &[
            "operator",
            "raft",
            "snapshot",
            "save",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old_init = old.init.clone();
    for i in 0..3 {
        old.kill9(i);
    }
    drop(old);

    // A new node, initialized on its own with its own keys.
    let http = client_with_timeout(Duration::from_secs(30));
    let mut first = Node::new("new-1", None);
    first.spawn(&http);
    let r = http
        .put(format!("{}/v1/sys/init", first.addr))
        .json(&json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().unwrap();
    let fresh_key = fresh["keys_base64"][0].as_str().unwrap().to_owned();
    let fresh_root = fresh["root_token"].as_str().unwrap().to_owned();
    let mut c = Cluster {
        nodes: vec![first],
        init: process::Init {
            keys: vec![fresh_key.clone()],
            keys_base64: vec![fresh_key.clone()],
            root_token: fresh_root.clone(),
        },
        token: fresh_root.clone(),
        http,
        probe: client_with_timeout(Duration::from_secs(2)),
        net: None,
        extra: Default::default(),
    };
    c.unseal_with(0, std::slice::from_ref(&fresh_key)).unwrap();
    c.wait_for("new-1 to be active", Duration::from_secs(20), |c| {
        (c.get(0, "sys/health").status() == 200).then_some(())
    });

    // Without -force the snapshot of another cluster is refused; with it, it is restored.
    let refused = c.cli(
        0,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            file.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let restored = c.cli(
        0,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            "-force",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    // The restore brought the old cluster's keys: the node seals and opens with them, and
    // the old root token is the one that works now.
    c.wait_for(
        "new-1 to seal after the restore",
        Duration::from_secs(20),
        |c| (c.seal_status(0)["sealed"] == true).then_some(()),
    );
    c.init = old_init.clone();
    c.token = old_init.root_token.clone();
    c.unseal(0);
    c.wait_for(
        "new-1 to serve the restored data",
        Duration::from_secs(20),
        |c| (secret(c, 0, "db") == Some(json!("s3cr3t"))).then_some(()),
    );
    assert_eq!(secret(&c, 0, "api"), Some(json!("k3y")));
    let stale = c
        .http
        .get(c.url(0, "secret/db"))
        .header("X-Vault-Token", &fresh_root)
        .send()
        .unwrap();
    assert_eq!(stale.status(), 403, "the new node's own root token is gone");

    // Two more new nodes join through retry_join, are unsealed with the old keys, and serve
    // the restored data.
    c.add_node("new-2");
    c.add_node("new-3");
    c.wait_for_voters(3);
    for i in 0..3 {
        c.wait_for(
            &format!("node {i} to read the restored data"),
            Duration::from_secs(20),
            |c| (secret(c, i, "db") == Some(json!("s3cr3t"))).then_some(()),
        );
    }
}
