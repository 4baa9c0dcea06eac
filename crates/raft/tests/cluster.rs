//! Three nodes in one process over the in-process transport.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;

use common::{DEADLINE, open_on, wait_until};
use tresor_raft::{InProcessNetwork, RaftStore};
use tresor_storage::{Backend, StorageError};

async fn leader_among(stores: &[Arc<RaftStore>]) -> Arc<RaftStore> {
    let (name, _) = stores[0].wait_for_leader(DEADLINE).await.unwrap();
    let leader = stores
        .iter()
        .find(|s| s.node_id() == name)
        .expect("leader is one of the nodes")
        .clone();
    leader.wait_for_leader(DEADLINE).await.unwrap();
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let net = InProcessNetwork::new();
    let n1 = open_on(&net, dir.path(), "vault-1", |_| {}).await;
    let n2 = open_on(&net, dir.path(), "vault-2", |_| {}).await;
    let n3 = open_on(&net, dir.path(), "vault-3", |_| {}).await;

    n1.bootstrap_single().await.unwrap();
    n1.wait_for_leader(DEADLINE).await.unwrap();
    n1.put("before/join", b"early".to_vec()).await.unwrap();
    for n in [&n2, &n3] {
        n1.add_learner(n.node_id(), n.node_info().clone())
            .await
            .unwrap();
    }
    let learners = n1.members();
    assert_eq!(learners.len(), 3);
    assert_eq!(learners.iter().filter(|m| m.voter).count(), 1);
    assert!(!n1.has_other_voters(), "learners are not voters");

    n1.change_membership(&["vault-1".into(), "vault-2".into(), "vault-3".into()])
        .await
        .unwrap();
    assert!(n1.members().iter().all(|m| m.voter));
    assert!(n1.has_other_voters());

    for i in 0..50u32 {
        n1.put(&format!("r/{i:03}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    let target = n1.metrics().await.last_log_index;
    for n in [&n2, &n3] {
        wait_until(n, "follower applied", |s| s.applied_index >= target).await;
        assert_eq!(
            n.get("r/049").await.unwrap(),
            Some(49u32.to_be_bytes().to_vec())
        );
        assert_eq!(n.get("before/join").await.unwrap(), Some(b"early".to_vec()));
        // A follower refuses writes and names the leader.
        match n.put("x", b"y".to_vec()).await {
            Err(StorageError::NotLeader { leader }) => {
                assert_eq!(leader.as_deref(), Some("vault-1"))
            }
            other => panic!("follower write: {other:?}"),
        }
    }
    let status = n1.metrics().await;
    assert_eq!(status.followers.len(), 2, "{status:?}");

    // Kill the leader: stop it and make it unreachable.
    n1.shutdown().await.unwrap();
    net.unregister("vault-1");
    let survivors = vec![n2.clone(), n3.clone()];
    let st = wait_until(&n2, "new leader elected", |s| {
        s.leader.is_some() && s.leader.as_deref() != Some("vault-1")
    })
    .await;
    let new_leader = leader_among(&survivors).await;
    assert_eq!(st.leader.as_deref(), Some(new_leader.node_id()));
    assert!(new_leader.is_leader());
    for i in 0..50u32 {
        assert_eq!(
            new_leader.get(&format!("r/{i:03}")).await.unwrap(),
            Some(i.to_be_bytes().to_vec())
        );
    }
    // The two survivors are a quorum of three: writes still commit.
    new_leader
        .put("after/failover", b"ok".to_vec())
        .await
        .unwrap();
    let other = survivors
        .iter()
        .find(|s| s.node_id() != new_leader.node_id())
        .unwrap();
    let target = new_leader.metrics().await.last_log_index;
    wait_until(other, "survivor applied", |s| s.applied_index >= target).await;
    assert_eq!(
        other.get("after/failover").await.unwrap(),
        Some(b"ok".to_vec())
    );
    match other.put("x", b"y".to_vec()).await {
        Err(StorageError::NotLeader { leader }) => {
            assert_eq!(leader.as_deref(), Some(new_leader.node_id()))
        }
        res => panic!("survivor follower write: {res:?}"),
    }

    // Removing the dead node shrinks the configuration.
    new_leader.remove_node("vault-1").await.unwrap();
    let members = new_leader.members();
    assert_eq!(members.len(), 2, "{members:?}");
    for s in survivors {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_learner_catches_up_from_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let net = InProcessNetwork::new();
    let tune = |o: &mut tresor_raft::RaftOptions| {
        o.snapshot_threshold = 50;
        o.trailing_logs = 10;
    };
    let n1 = open_on(&net, dir.path(), "vault-1", tune).await;
    n1.bootstrap_single().await.unwrap();
    n1.wait_for_leader(DEADLINE).await.unwrap();
    // Values of every size class: short, just over a page, several pages (stored split).
    let value = |i: u32| vec![(i % 251) as u8; [32, 4136, 13_000][i as usize % 3]];
    for i in 0..300u32 {
        n1.put(&format!("s/{i:03}"), value(i)).await.unwrap();
    }
    wait_until(&n1, "purged", |s| s.purged_index.is_some()).await;
    let n2 = open_on(&net, dir.path(), "vault-2", tune).await;
    n1.add_learner("vault-2", n2.node_info().clone())
        .await
        .unwrap();
    let target = n1.metrics().await.last_log_index;
    let st = wait_until(&n2, "learner caught up", |s| s.applied_index >= target).await;
    assert!(
        st.snapshot_index.is_some(),
        "learner got a snapshot: {st:?}"
    );
    assert_eq!(n2.list("s/").await.unwrap().len(), 300);
    for i in (0..300u32).step_by(7).chain([299]) {
        assert_eq!(
            n2.get(&format!("s/{i:03}")).await.unwrap(),
            Some(value(i)),
            "key {i}"
        );
    }
    // The snapshot was written for the transfer only: no copy is kept on either node.
    for n in [&n1, &n2] {
        let kept: Vec<_> = std::fs::read_dir(n.snapshot_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(kept.is_empty(), "snapshot directory holds {kept:?}");
    }
    n1.shutdown().await.unwrap();
    n2.shutdown().await.unwrap();
}
