//! Quorum-loss recovery with `peers.json`: survivors restarted with the file elect a leader
//! among themselves and serve the data they had.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::path::Path;

use common::{DEADLINE, TestCluster, options, wait_until};
use tresor_raft::{RaftError, RaftStore};
use tresor_storage::Backend;

/// Writes `peers.json` for `ids` in Vault's place, `<data dir>/raft/peers.json`.
fn write_peers_json(node_dir: &Path, ids: &[&str]) -> std::path::PathBuf {
    let peers: Vec<serde_json::Value> = ids
        .iter()
        .map(
            |id| serde_json::json!({"id": id, "address": format!("{id}:8201"), "non_voter": false}),
        )
        .collect();
    let raft_dir = node_dir.join("raft");
    std::fs::create_dir_all(&raft_dir).unwrap();
    let path = raft_dir.join("peers.json");
    std::fs::write(&path, serde_json::to_vec(&peers).unwrap()).unwrap();
    path
}

async fn put_range(store: &RaftStore, prefix: &str, n: u32) {
    for i in 0..n {
        store
            .put(&format!("{prefix}/{i:03}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
}

async fn assert_range(store: &RaftStore, prefix: &str, n: u32) {
    for i in 0..n {
        assert_eq!(
            store.get(&format!("{prefix}/{i:03}")).await.unwrap(),
            Some(i.to_be_bytes().to_vec()),
            "{prefix}/{i:03} on {}",
            store.node_id()
        );
    }
}

/// Waits until every running node in `nodes` applied what the leader `leader` has logged.
async fn wait_caught_up(c: &TestCluster, leader: usize, nodes: &[usize]) {
    let target = c.node(leader).metrics().await.last_log_index;
    for &i in nodes {
        wait_until(&c.node(i), "caught up", |s| s.applied_index >= target).await;
    }
}

fn voters(store: &RaftStore) -> Vec<String> {
    let mut v: Vec<String> = store
        .members()
        .into_iter()
        .filter(|m| m.voter)
        .map(|m| m.node_id)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_survivor_of_three_leads_after_peers_json() {
    let mut c = TestCluster::start(3, |_| {}).await;
    put_range(&c.node(0), "old", 20).await;
    wait_caught_up(&c, 0, &[1, 2]).await;

    // Two of three are lost for good: quorum is gone.
    c.kill(0).await;
    c.kill(1).await;

    // The survivor is stopped, given the file, and started again.
    c.kill(2).await;
    let file = write_peers_json(&c.dir.path().join("vault-3"), &["vault-3"]);
    c.restart(2).await;
    let survivor = c.node(2);
    let (leader, _) = survivor.wait_for_leader(DEADLINE).await.unwrap();
    assert_eq!(leader, "vault-3");
    assert!(!file.exists(), "the applied file is deleted");
    assert_eq!(voters(&survivor), vec!["vault-3".to_string()]);
    assert_eq!(survivor.members().len(), 1, "{:?}", survivor.members());

    // It serves the old data and takes writes alone.
    assert_range(&survivor, "old", 20).await;
    put_range(&survivor, "new", 5).await;
    assert_range(&survivor, "new", 5).await;

    // A restart without the file keeps the recovered configuration.
    drop(survivor);
    c.kill(2).await;
    c.restart(2).await;
    let survivor = c.node(2);
    survivor.wait_for_leader(DEADLINE).await.unwrap();
    assert_eq!(voters(&survivor), vec!["vault-3".to_string()]);
    assert_range(&survivor, "new", 5).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_survivors_of_five_elect_the_most_up_to_date() {
    let mut c = TestCluster::start(5, |_| {}).await;
    put_range(&c.node(0), "old", 10).await;
    wait_caught_up(&c, 0, &[1, 2, 3, 4]).await;

    // vault-5 goes down first and misses the later writes; vault-4 has them.
    c.kill(4).await;
    put_range(&c.node(0), "late", 10).await;
    wait_caught_up(&c, 0, &[3]).await;

    // Then three more are lost: vault-4 and vault-5 are the survivors.
    for i in [0, 1, 2, 3] {
        c.kill(i).await;
    }
    for name in ["vault-4", "vault-5"] {
        write_peers_json(&c.dir.path().join(name), &["vault-4", "vault-5"]);
    }
    c.restart(3).await;
    c.restart(4).await;

    let (leader, _) = c.node(3).wait_for_leader(DEADLINE).await.unwrap();
    assert_eq!(
        leader, "vault-4",
        "the survivor with the longer log leads (the other would lose the late writes)"
    );
    let li = c.index_of(&leader);
    c.node(li).wait_for_leader(DEADLINE).await.unwrap();
    // A write needs both survivors: the new configuration has two voters.
    put_range(&c.node(li), "new", 3).await;
    wait_caught_up(&c, li, &[3, 4]).await;
    for i in [3, 4] {
        let node = c.node(i);
        assert_eq!(
            voters(&node),
            vec!["vault-4".to_string(), "vault-5".to_string()]
        );
        assert_range(&node, "old", 10).await;
        assert_range(&node, "late", 10).await;
        assert_range(&node, "new", 3).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_peers_json_fails_the_start_and_stays() {
    let mut c = TestCluster::start(1, |_| {}).await;
    put_range(&c.node(0), "old", 3).await;
    c.kill(0).await;
    let node_dir = c.dir.path().join("vault-1");
    std::fs::create_dir_all(node_dir.join("raft")).unwrap();
    let file = node_dir.join("raft").join("peers.json");

    for (content, reason) in [
        (
            &br#"[{"id": "vault-1", "address": "vault-1"}]"#[..],
            "host:port",
        ),
        (
            &br#"[{"id": "vault-2", "address": "vault-2:8201"}]"#[..],
            "not listed",
        ),
        (&b"not json"[..], "not a JSON array"),
    ] {
        std::fs::write(&file, content).unwrap();
        let err = RaftStore::open(
            options(c.dir.path(), "vault-1"),
            c.net.transport_for("vault-1"),
        )
        .await
        .unwrap_err();
        match &err {
            RaftError::PeersJson { path, reason: r } => {
                assert_eq!(Path::new(path), file);
                assert!(r.contains(reason), "{err}");
            }
            other => panic!("want PeersJson, got {other}"),
        }
        assert!(file.exists(), "a refused file is left for the operator");
    }

    // Fixed, the node starts with the data it had.
    std::fs::remove_file(&file).unwrap();
    c.restart(0).await;
    c.node(0).wait_for_leader(DEADLINE).await.unwrap();
    assert_range(&c.node(0), "old", 3).await;
    c.shutdown().await;
}
