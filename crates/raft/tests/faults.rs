//! Faults on the in-process cluster: a paused leader (its messages unanswered while it keeps
//! running) is replaced and follows again on resume; a killed follower, reopened from its
//! directory, catches up (through a snapshot once the leader has compacted its log).

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use common::{TestCluster, wait_until};
use tresor_storage::{Backend, StorageError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_leader_is_replaced_and_follows_on_resume() {
    let c = TestCluster::start(3, |_| {}).await;
    let old = c.wait_new_leader(0, None).await;
    c.node(old).put("a", b"1".to_vec()).await.unwrap();

    c.net.pause(&c.names[old]);
    let observer = (old + 1) % 3;
    let new = c.wait_new_leader(observer, Some(old)).await;
    assert_ne!(new, old);
    c.node(new).put("b", b"2".to_vec()).await.unwrap();
    // The paused leader cannot commit anything meanwhile.
    let res = c.node(old).put("stale", b"x".to_vec()).await;
    assert!(
        matches!(
            res,
            Err(StorageError::Unavailable(_)
                | StorageError::Unknown(_)
                | StorageError::NotLeader { .. })
        ),
        "{res:?}"
    );

    c.net.resume(&c.names[old]);
    let leader_name = c.names[new].clone();
    wait_until(&c.node(old), "old leader follows", |s| {
        s.state != "Leader" && s.leader.as_deref() == Some(leader_name.as_str())
    })
    .await;
    let target = c.node(new).metrics().await.last_log_index;
    wait_until(&c.node(old), "old leader catches up", |s| {
        s.applied_index >= target
    })
    .await;
    assert_eq!(c.node(old).get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(c.node(old).get("b").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(c.node(new).get("stale").await.unwrap(), None);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_follower_reopens_and_catches_up() {
    let mut c = TestCluster::start(3, |o| {
        o.snapshot_threshold = 40;
        o.trailing_logs = 5;
    })
    .await;
    let leader = c.wait_new_leader(0, None).await;
    for i in 0..10u32 {
        c.node(leader)
            .put(&format!("k/{i:03}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    let victim = (leader + 1) % 3;
    let before = c.node(leader).metrics().await.last_log_index;
    wait_until(&c.node(victim), "victim replicated", |s| {
        s.applied_index >= before
    })
    .await;
    c.kill(victim).await;

    // Two of three keep writing; enough entries for the leader to snapshot and purge.
    for i in 10..120u32 {
        c.node(leader)
            .put(&format!("k/{i:03}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    // The leader has purged entries the victim never saw: it must catch up by snapshot.
    wait_until(&c.node(leader), "leader purges its log", |s| {
        s.purged_index > before
    })
    .await;
    let target = c.node(leader).metrics().await.last_log_index;
    c.restart(victim).await;
    let st = wait_until(&c.node(victim), "reopened follower catches up", |s| {
        s.applied_index >= target
    })
    .await;
    assert_eq!(st.leader.as_deref(), Some(c.names[leader].as_str()));
    for i in 0..120u32 {
        assert_eq!(
            c.node(victim).get(&format!("k/{i:03}")).await.unwrap(),
            Some(i.to_be_bytes().to_vec()),
            "key {i}"
        );
    }
    c.shutdown().await;
}

/// A follower that learned of its last commit from a heartbeat (no append since) and is then
/// shut down must, once reopened alone, apply up to that commit from its own files. A sealed
/// Tresor node reads its seal configuration this way before it can rejoin Raft.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_shut_down_after_a_commit_reapplies_it_alone() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let leader = c.wait_new_leader(0, None).await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    c.node(leader)
        .put("seal/config", b"new".to_vec())
        .await
        .unwrap();
    let f = c.node(follower);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while f.get("seal/config").await.unwrap().as_deref() != Some(b"new".as_slice()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "follower never applied the write"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(f);
    // Everyone stops; only the follower comes back, so it cannot learn anything from peers.
    c.kill(follower).await;
    c.kill(leader).await;
    c.kill(other).await;
    c.restart(follower).await;
    let f = c.node(follower);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        let v = f.get("seal/config").await.unwrap();
        if v.as_deref() == Some(b"new".as_slice()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reopened follower still reads {v:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    c.shutdown().await;
}
