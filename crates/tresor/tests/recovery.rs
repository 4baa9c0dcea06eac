//! Disaster recovery with real processes, on clusters formed the way seed 002 forms them
//! (every node's config carries `retry_join` blocks for the others):
//! - a node lost for good is removed with `operator raft remove-peer` and a new node, with a
//!   new node id and the same config pattern, joins through `retry_join` and catches up;
//! - a lost quorum (two of three nodes gone) is recovered by restarting the survivor with a
//!   `peers.json` naming only itself.
//!
//! The formation itself (init on any node of an all-`retry_join` cluster) is
//! `ha_cluster::init_on_any_node_of_an_all_retry_join_cluster_forms_the_cluster_there`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tresor_testkit::cluster::{Cluster, Node, Place};

const WAIT: Duration = Duration::from_secs(30);
const SECRETS: usize = 20;

fn read_secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

/// Mounts `secret/` (kv) through node `i` and writes `SECRETS` values.
fn write_secrets(c: &Cluster, i: usize) {
    let r = c.post(i, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    for k in 0..SECRETS {
        let r = c.put(
            i,
            &format!("secret/s{k}"),
            json!({"v": format!("value-{k}")}),
        );
        assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    }
}

/// Waits until every secret reads back through node `i`.
fn assert_secrets(c: &Cluster, i: usize) {
    for k in 0..SECRETS {
        let key = format!("s{k}");
        c.wait_for(&format!("secret/{key} through node {i}"), WAIT, |c| {
            (read_secret(c, i, &key) == Some(json!(format!("value-{k}")))).then_some(())
        });
    }
}

/// The node ids of the Raft configuration read through node `i`, sorted, with their voter
/// flags.
fn members(c: &Cluster, i: usize) -> Vec<(String, bool)> {
    let mut m: Vec<(String, bool)> = c
        .servers(i)
        .iter()
        .map(|s| {
            (
                s["node_id"].as_str().unwrap_or_default().to_owned(),
                s["voter"] == true,
            )
        })
        .collect();
    m.sort();
    m
}

/// `last_index` of server `id` in the active node `i`'s autopilot state.
fn replicated_index(c: &Cluster, i: usize, id: &str) -> Option<u64> {
    let r = c.get(i, "sys/storage/raft/autopilot/state");
    if r.status() != 200 {
        return None;
    }
    let v: Value = r.json().ok()?;
    let servers = if v["data"].is_object() {
        &v["data"]["servers"]
    } else {
        &v["servers"]
    };
    servers[id]["last_index"].as_u64()
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Seed scenario 1: one node is lost for good. It is removed from the configuration, a new
/// node (new id, `retry_join` to the survivors) joins, is unsealed, becomes a voter and holds
/// the data: with it the cluster survives the loss of the old leader too.
#[test]
fn a_lost_node_is_replaced_by_a_new_node_that_catches_up() {
    let mut c = Cluster::form_all_retry_join(3, 0);
    let leader = c.wait_leader(None, WAIT);
    write_secrets(&c, leader);
    let lost = (leader + 1) % 3;
    let kept = (leader + 2) % 3;
    let lost_name = c.nodes[lost].name.clone();

    c.kill9(lost);
    ok(
        &c.cli(leader, &["operator", "raft", "remove-peer", &lost_name]),
        "operator raft remove-peer",
    );
    c.wait_for("two servers left", WAIT, |c| {
        let m = members(c, leader);
        (m.len() == 2 && !m.iter().any(|(id, _)| *id == lost_name)).then_some(())
    });

    // The replacement: a new node id, retry_join to the two survivors.
    let survivors = vec![c.nodes[leader].addr.clone(), c.nodes[kept].addr.clone()];
    let mut node = Node::new_at("node-4", Place::loopback(), survivors);
    let http = c.http.clone();
    node.spawn(&http);
    c.nodes.push(node);
    let new = c.nodes.len() - 1;
    c.wait_for_challenge(new);
    c.unseal(new);
    c.wait_for("node-4 as a voter", WAIT, |c| {
        let m = members(c, leader);
        (m.len() == 3 && m.iter().all(|(_, v)| *v) && m.iter().any(|(id, _)| id == "node-4"))
            .then_some(())
    });

    // It caught up: the leader has replicated its whole log (the writes above included) to it.
    let r = c.put(leader, "secret/after-join", json!({"v": "late"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let leader_name = c.nodes[leader].name.clone();
    let target = replicated_index(&c, leader, &leader_name).expect("the leader's own index");
    c.wait_for("node-4 to hold the leader's log", WAIT, |c| {
        replicated_index(c, leader, "node-4")
            .filter(|i| *i >= target)
            .map(|_| ())
    });
    assert_secrets(&c, new);

    // With the new node the cluster has a quorum again without the old leader.
    c.kill9(leader);
    let next = c.wait_leader(Some(leader), WAIT);
    assert!(next == kept || next == new, "leader {next}");
    assert_secrets(&c, new);
    c.wait_for("the late write through node-4", WAIT, |c| {
        (read_secret(c, new, "after-join") == Some(json!("late"))).then_some(())
    });
}

/// Seed scenario 2: two of three nodes are lost, the survivor has no quorum. It is stopped,
/// given a `peers.json` naming only itself in its Raft directory, and started: it becomes the
/// single voter and active node, serves the old data and takes writes; the file is gone.
#[test]
fn a_lost_quorum_is_recovered_with_peers_json_on_the_survivor() {
    let mut c = Cluster::form_all_retry_join(3, 0);
    let leader = c.wait_leader(None, WAIT);
    write_secrets(&c, leader);
    let survivor = (leader + 1) % 3;
    // Every write reached the survivor before the others go.
    let target = replicated_index(&c, leader, &c.nodes[leader].name.clone()).unwrap();
    let survivor_name = c.nodes[survivor].name.clone();
    c.wait_for("the survivor to hold the log", WAIT, |c| {
        replicated_index(c, leader, &survivor_name)
            .filter(|i| *i >= target)
            .map(|_| ())
    });

    c.kill9(leader);
    c.kill9((leader + 2) % 3);
    c.kill9(survivor);

    // Vault's place for the file: the `raft/` directory under the storage path.
    let raft_dir = c.nodes[survivor].dir.path().join("data").join("raft");
    std::fs::create_dir_all(&raft_dir).unwrap();
    let peers_json = raft_dir.join("peers.json");
    let peers = json!([{
        "id": survivor_name,
        "address": format!("127.0.0.1:{}", c.nodes[survivor].cluster_port),
        "non_voter": false,
    }]);
    std::fs::write(&peers_json, serde_json::to_vec_pretty(&peers).unwrap()).unwrap();

    c.restart(survivor);
    c.unseal(survivor);
    c.wait_for("the survivor to be active", WAIT, |c| {
        (c.health(survivor) == Some(200)).then_some(())
    });
    assert!(!peers_json.exists(), "the applied file is deleted");
    assert!(
        c.nodes[survivor].log().contains("peers.json applied"),
        "the node logs what it did"
    );
    assert_eq!(members(&c, survivor), vec![(survivor_name.clone(), true)]);
    assert_secrets(&c, survivor);
    let r = c.put(survivor, "secret/after-recovery", json!({"v": "alone"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    // The recovered single-node cluster grows again: a new node joins it.
    let mut node = Node::new_at(
        "node-4",
        Place::loopback(),
        vec![c.nodes[survivor].addr.clone()],
    );
    let http = c.http.clone();
    node.spawn(&http);
    c.nodes.push(node);
    let new = c.nodes.len() - 1;
    c.wait_for_challenge(new);
    c.unseal(new);
    c.wait_for("node-4 as a voter", WAIT, |c| {
        let m = members(c, survivor);
        (m.len() == 2 && m.iter().all(|(_, v)| *v)).then_some(())
    });
    c.wait_for("the data through node-4", WAIT, |c| {
        (read_secret(c, new, "after-recovery") == Some(json!("alone"))).then_some(())
    });
    assert_secrets(&c, new);
}
