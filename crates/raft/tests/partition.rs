//! A leader cut off from its followers stops acknowledging writes; the majority side elects a
//! new leader and no acknowledged write is lost when the partition heals.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::time::Instant;

use common::{DEADLINE, open_on, wait_until};
use tresor_raft::InProcessNetwork;
use tresor_storage::{Backend, StorageError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_leader_refuses_writes_and_majority_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let net = InProcessNetwork::new();
    let n1 = open_on(&net, dir.path(), "vault-1", |_| {}).await;
    let n2 = open_on(&net, dir.path(), "vault-2", |_| {}).await;
    let n3 = open_on(&net, dir.path(), "vault-3", |_| {}).await;
    n1.bootstrap_single().await.unwrap();
    n1.wait_for_leader(DEADLINE).await.unwrap();
    for n in [&n2, &n3] {
        n1.add_learner(n.node_id(), n.node_info().clone())
            .await
            .unwrap();
    }
    n1.change_membership(&["vault-1".into(), "vault-2".into(), "vault-3".into()])
        .await
        .unwrap();
    n1.put("a", b"1".to_vec()).await.unwrap();

    net.isolate("vault-1");
    let st = wait_until(&n2, "majority elects", |s| {
        s.leader.is_some() && s.leader.as_deref() != Some("vault-1")
    })
    .await;
    let new_leader = if st.leader.as_deref() == Some("vault-2") {
        &n2
    } else {
        &n3
    };
    new_leader.wait_for_leader(DEADLINE).await.unwrap();
    new_leader.put("b", b"2".to_vec()).await.unwrap();

    let started = Instant::now();
    let res = n1.put("lost?", b"x".to_vec()).await;
    eprintln!(
        "isolated leader write: {res:?} after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            res,
            Err(StorageError::Unavailable(_)
                | StorageError::Unknown(_)
                | StorageError::NotLeader { .. })
        ),
        "{res:?}"
    );

    // Once the stale quorum is visible in the metrics, new writes are refused up front.
    wait_until(&n1, "isolated leader notices", |s| {
        s.state != "Leader" || s.millis_since_quorum_ack.is_some_and(|ms| ms > 600)
    })
    .await;
    let res = n1.put("refused", b"x".to_vec()).await;
    assert!(
        matches!(
            res,
            Err(StorageError::Unavailable(_) | StorageError::NotLeader { .. })
        ),
        "{res:?}"
    );

    net.heal();
    wait_until(&n1, "old leader rejoins", |s| s.leader == st.leader).await;
    let target = new_leader.metrics().await.last_log_index;
    wait_until(&n1, "old leader catches up", |s| s.applied_index >= target).await;
    assert_eq!(n1.get("b").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(n1.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        n1.get("refused").await.unwrap(),
        None,
        "a refused write was applied"
    );
    for n in [n1, n2, n3] {
        n.shutdown().await.unwrap();
    }
}
