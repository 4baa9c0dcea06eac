//! Three Raft nodes talking over the real mutual-TLS cluster port on loopback.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use common::{DEADLINE, three_node_cluster, wait_caught_up, wait_until};
use tresor_cluster::ClusterIdentity;
use tresor_storage::{Backend, StorageError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_fail_over_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterIdentity::generate_ca("test-cluster").unwrap();
    let mut nodes = three_node_cluster(dir.path(), &ca).await;
    let n1 = nodes[0].store.clone();
    assert_eq!(n1.members().iter().filter(|m| m.voter).count(), 3);

    for i in 0..40u32 {
        n1.put(&format!("r/{i:03}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    for n in &nodes[1..] {
        wait_caught_up(&n1, &n.store).await;
        assert_eq!(
            n.store.get("r/039").await.unwrap(),
            Some(39u32.to_be_bytes().to_vec())
        );
        match n.store.put("x", b"y".to_vec()).await {
            Err(StorageError::NotLeader { leader }) => {
                assert_eq!(leader.as_deref(), Some("vault-1"))
            }
            other => panic!("follower write: {other:?}"),
        }
        // Every node's cluster port really served Raft RPCs.
        assert!(n.handler.seen() > 0);
    }
    assert_eq!(n1.metrics().await.followers.len(), 2);

    // Kill the leader: Raft stopped and its cluster port closed.
    let old = nodes.remove(0);
    old.kill().await;
    let st = wait_until(&nodes[0].store, "new leader elected", |s| {
        s.leader.is_some() && s.leader.as_deref() != Some("vault-1")
    })
    .await;
    let leader_name = st.leader.unwrap();
    let leader = nodes.iter().find(|n| n.name == leader_name).unwrap();
    let other = nodes.iter().find(|n| n.name != leader_name).unwrap();
    leader.store.wait_for_leader(DEADLINE).await.unwrap();
    assert!(leader.store.is_leader());
    assert_eq!(
        leader.store.get("r/000").await.unwrap(),
        Some(0u32.to_be_bytes().to_vec())
    );
    // Two of three voters are a quorum: writes still commit and replicate over TLS.
    leader
        .store
        .put("after/failover", b"ok".to_vec())
        .await
        .unwrap();
    wait_caught_up(&leader.store, &other.store).await;
    assert_eq!(
        other.store.get("after/failover").await.unwrap(),
        Some(b"ok".to_vec())
    );
    for n in nodes {
        n.kill().await;
    }
}
