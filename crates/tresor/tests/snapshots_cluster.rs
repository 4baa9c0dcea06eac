//! Snapshot restore on a three-node cluster of real processes: a standby redirects the
//! upload to the active node, and after the restore every node holds the restored data (the
//! leader is killed and the node that takes over serves it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::time::Duration;

use cluster::Cluster;
use serde_json::{Value, json};

fn read_secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

#[test]
fn a_restore_reaches_every_node_and_standbys_redirect() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    assert_eq!(
        c.post(leader, "sys/mounts/secret", json!({"type": "kv"}))
            .status(),
        204
    );
    assert_eq!(c.put(leader, "secret/a", json!({"v": "1"})).status(), 204);
    let r = c.get(leader, "sys/storage/raft/snapshot");
    assert_eq!(r.status(), 200);
    let archive = r.bytes().unwrap().to_vec();
    assert_eq!(c.put(leader, "secret/a", json!({"v": "2"})).status(), 204);
    assert_eq!(c.put(leader, "secret/b", json!({"v": "3"})).status(), 204);

    // A standby answers 307 to the active node.
    let standby = (0..3).find(|&i| i != leader).unwrap();
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let r = no_redirects
        .post(c.url(standby, "sys/storage/raft/snapshot"))
        .header("X-Vault-Token", &c.token)
        .body(archive.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&c.nodes[leader].addr), "{location}");
    assert!(
        location.ends_with("/v1/sys/storage/raft/snapshot"),
        "{location}"
    );

    let r = c
        .req(leader, "POST", "sys/storage/raft/snapshot")
        .body(archive)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    assert_eq!(read_secret(&c, leader, "a"), Some(json!("1")));
    assert_eq!(read_secret(&c, leader, "b"), None);

    // The followers applied the restore too: the node that takes over serves it.
    c.kill9(leader);
    let next = c.wait_leader(Some(leader), Duration::from_secs(30));
    c.wait_for("the new active node", Duration::from_secs(30), |c| {
        (c.get(next, "sys/health").status() == 200).then_some(())
    });
    assert_eq!(read_secret(&c, next, "a"), Some(json!("1")));
    assert_eq!(read_secret(&c, next, "b"), None);
}
