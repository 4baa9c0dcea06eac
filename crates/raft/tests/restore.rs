//! Operator snapshots on in-process clusters: a restore reaches every node, and a damaged or
//! refused archive changes nothing.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;

use common::{DEADLINE, TestCluster, single_leader, wait_until};
use tresor_raft::{RaftError, RaftStore};
use tresor_storage::{Backend, Op};

fn seal() -> tresor_raft::SealSums {
    Box::new(|sums: &[u8]| Ok(sums.iter().map(|b| b ^ 0x5a).collect()))
}

fn accept() -> tresor_raft::CheckArchive {
    Box::new(|c| {
        let opened: Vec<u8> = c.sealed_sums.iter().map(|b| b ^ 0x5a).collect();
        if opened == c.sums {
            Ok(())
        } else {
            Err("sealed sums do not match".into())
        }
    })
}

async fn put(store: &RaftStore, key: &str, value: &[u8]) {
    store
        .apply(vec![Op::Put {
            key: key.into(),
            value: value.to_vec(),
        }])
        .await
        .unwrap();
}

async fn save(store: &RaftStore, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    store.save_archive(file, seal()).await.unwrap();
    path
}

async fn leader_of(cluster: &TestCluster) -> Arc<RaftStore> {
    let i = cluster.wait_new_leader(0, None).await;
    cluster.node(i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_converges_on_three_nodes() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = leader_of(&cluster).await;
    put(&leader, "a", b"old-a").await;
    put(&leader, "b", &vec![9u8; 1_500_000]).await; // more than one restore chunk
    let files = tempfile::tempdir().unwrap();
    let archive = save(&leader, files.path(), "snap.tar.gz").await;

    put(&leader, "a", b"new-a").await;
    put(&leader, "c", b"new-c").await;
    leader
        .apply(vec![Op::Delete { key: "b".into() }])
        .await
        .unwrap();

    let summary = leader.restore_archive(&archive, accept()).await.unwrap();
    assert_eq!(summary.keys, 2);
    let target = leader.metrics().await.last_log_index.unwrap();
    for i in 0..3 {
        let node = cluster.node(i);
        wait_until(&node, "restore applied", |s| {
            s.applied_index.is_some_and(|a| a >= target)
        })
        .await;
        assert_eq!(
            node.get("a").await.unwrap(),
            Some(b"old-a".to_vec()),
            "node {i}"
        );
        assert_eq!(
            node.get("b").await.unwrap().map(|v| v.len()),
            Some(1_500_000)
        );
        assert_eq!(node.get("c").await.unwrap(), None, "node {i}");
    }
    // Writes after a restore land on the restored data.
    put(&leader, "d", b"after").await;
    assert_eq!(leader.get("d").await.unwrap(), Some(b"after".to_vec()));
    cluster.shutdown().await;
}

fn leftovers(store: &RaftStore) -> Vec<String> {
    std::fs::read_dir(store.snapshot_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("restore-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_refused_archives_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    put(&store, "k", b"v1").await;
    let archive = save(&store, dir.path(), "snap.tar.gz").await;
    put(&store, "k", b"v2").await;
    let bytes = std::fs::read(&archive).unwrap();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"this is not a snapshot at all".to_vec()),
        ("flipped", {
            let mut b = bytes.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x40;
            b
        }),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = store.restore_archive(&path, accept()).await.unwrap_err();
        assert!(
            matches!(err, RaftError::InvalidSnapshot(_)),
            "{name}: {err}"
        );
        assert_eq!(
            store.get("k").await.unwrap(),
            Some(b"v2".to_vec()),
            "{name}"
        );
    }
    let err = store
        .restore_archive(&archive, Box::new(|_| Err("other keys".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, RaftError::SnapshotRefused(_)), "{err}");
    assert_eq!(store.get("k").await.unwrap(), Some(b"v2".to_vec()));
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));

    // The intact archive still restores.
    store.restore_archive(&archive, accept()).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v1".to_vec()));
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cannot_restore() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = leader_of(&cluster).await;
    let files = tempfile::tempdir().unwrap();
    let archive = save(&leader, files.path(), "snap.tar.gz").await;
    let follower = (0..3)
        .map(|i| cluster.node(i))
        .find(|n| !n.is_leader())
        .unwrap();
    let err = follower
        .restore_archive(&archive, accept())
        .await
        .unwrap_err();
    assert!(matches!(err, RaftError::NotLeader { .. }), "{err}");
    let _ = DEADLINE;
    cluster.shutdown().await;
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// 100 MiB saved and restored on one node; prints the times and the peak RSS. Not in the
/// default suite (disk and time): `cargo test -p tresor-raft --test integration restore:: -- --ignored
/// --nocapture`. `SNAPSHOT_TEST_MIB` changes the size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_large_snapshot_round_trips_in_bounded_memory() {
    let mib: usize = std::env::var("SNAPSHOT_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    // Incompressible, like the barrier's ciphertext.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut value = vec![0u8; 1024 * 1024];
    for i in 0..mib {
        for b in value.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        put(&store, &format!("big/{i:05}"), &value).await;
    }
    let before = peak_rss_kib();
    let t0 = std::time::Instant::now();
    let archive = save(&store, dir.path(), "big.snap").await;
    let saved = t0.elapsed();
    let after_save = peak_rss_kib();
    put(&store, "big/00000", b"changed").await;
    let t1 = std::time::Instant::now();
    let summary = store.restore_archive(&archive, accept()).await.unwrap();
    let restored = t1.elapsed();
    let after_restore = peak_rss_kib();
    assert_eq!(summary.keys, mib as u64);
    assert_eq!(
        store.get("big/00000").await.unwrap().map(|v| v.len()),
        Some(value.len())
    );
    eprintln!(
        "{mib} MiB: archive {} bytes, save {saved:?}, restore {restored:?}, peak RSS KiB \
         before {before}, after save {after_save}, after restore {after_restore}",
        std::fs::metadata(&archive).unwrap().len()
    );
    store.shutdown().await.unwrap();
}
