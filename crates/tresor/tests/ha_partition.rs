//! A network partition built with namespaces and iptables: the isolated leader stops acting
//! as the active node and refuses writes, the majority elects a new leader that accepts
//! writes, and after healing the old leader follows and the data converges. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, client_with_timeout, send_status};
use serde_json::{Value, json};

fn read_secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

#[test]
fn isolated_leader_stops_being_active_and_the_majority_moves_on() {
    let c = Cluster::start_netns(3);
    let old = c.wait_leader(None, Duration::from_secs(10));
    let r = c.post(old, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let r = c.put(old, "secret/a", json!({"v": "one"}));
    assert_eq!(r.status(), 204);

    c.isolate(old);
    let started = Instant::now();
    // The test still reaches the isolated node; it must stop reporting itself active.
    let code = c.wait_for(
        "the isolated leader to stop being active",
        Duration::from_secs(10),
        |c| c.health(old).filter(|s| *s != 200),
    );
    eprintln!(
        "isolated leader health {code} after {:?}",
        started.elapsed()
    );
    let short = client_with_timeout(Duration::from_secs(5));
    let status = send_status(
        short
            .put(c.url(old, "secret/isolated"))
            .header("X-Vault-Token", &c.token)
            .json(&json!({"v": "x"})),
    );
    assert!(
        !status.is_some_and(|s| (200..300).contains(&s)),
        "the isolated node acknowledged a write: {status:?}"
    );

    // The majority side elects a leader and takes writes.
    let new = c.wait_for(
        "a leader on the majority side",
        Duration::from_secs(20),
        |c| (0..3).find(|i| *i != old && c.health(*i) == Some(200)),
    );
    eprintln!("node {new} active {:?} after the cut", started.elapsed());
    c.wait_for(
        "a write on the majority side",
        Duration::from_secs(15),
        |c| {
            let rb = short
                .put(c.url(new, "secret/b"))
                .header("X-Vault-Token", &c.token)
                .json(&json!({"v": "two"}));
            (send_status(rb) == Some(204)).then_some(())
        },
    );
    assert_eq!(read_secret(&c, new, "b"), Some(json!("two")));
    assert_ne!(c.health(old), Some(200), "two active nodes");

    c.heal();
    let commit = c.leader_status(new).unwrap()["raft_committed_index"]
        .as_u64()
        .unwrap();
    c.wait_for(
        "the old leader to follow and catch up",
        Duration::from_secs(20),
        |c| {
            let l = c.leader_status(old)?;
            (l["is_self"] == false
                && l["leader_address"] == c.nodes[new].addr.as_str()
                && l["raft_applied_index"].as_u64()? >= commit)
                .then_some(())
        },
    );
    assert_eq!(c.health(old), Some(473));
    assert_eq!(c.leader(), Some(new));
    for i in 0..3 {
        assert_eq!(read_secret(&c, i, "a"), Some(json!("one")), "node {i}");
        assert_eq!(read_secret(&c, i, "b"), Some(json!("two")), "node {i}");
    }
    assert_eq!(read_secret(&c, new, "isolated"), None);
}
