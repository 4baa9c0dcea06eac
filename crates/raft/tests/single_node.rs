//! Single-node behaviour: conformance, durability across restarts, compaction, group commit.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::sync::Arc;

use common::{DEADLINE, single_leader, wait_until};
use tresor_storage::{Backend, StorageError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    assert!(store.is_leader());
    tresor_storage::conformance::run(store.as_ref()).await;
    store.shutdown().await.unwrap();
    assert!(matches!(
        store.put("k", b"v".to_vec()).await,
        Err(StorageError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_is_idempotent_and_membership_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path(), "vault-1", |_| {}).await;
    assert!(!store.is_bootstrapped().await.unwrap());
    assert!(matches!(
        store.put("k", b"v".to_vec()).await,
        Err(StorageError::NotLeader { .. })
    ));
    store.bootstrap_single().await.unwrap();
    store.bootstrap_single().await.unwrap();
    assert!(store.is_bootstrapped().await.unwrap());
    let (leader, info) = store.wait_for_leader(DEADLINE).await.unwrap();
    assert_eq!(leader, "vault-1");
    assert_eq!(info.cluster_addr, "vault-1:8201");
    let members = store.members();
    assert_eq!(members.len(), 1);
    assert!(members[0].voter && members[0].leader);
    assert_eq!(store.leader().map(|l| l.0).as_deref(), Some("vault-1"));
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    for i in 0..200u32 {
        store
            .put(&format!("d/{i:04}"), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    store.delete("d/0007").await.unwrap();
    store.shutdown().await.unwrap();
    drop(store);

    let store = common::open(dir.path(), "vault-1", |_| {}).await;
    assert!(store.is_bootstrapped().await.unwrap());
    store.wait_for_leader(DEADLINE).await.unwrap();
    for i in 0..200u32 {
        let got = store.get(&format!("d/{i:04}")).await.unwrap();
        if i == 7 {
            assert_eq!(got, None);
        } else {
            assert_eq!(got, Some(i.to_be_bytes().to_vec()), "key {i}");
        }
    }
    assert_eq!(store.list("d/").await.unwrap().len(), 199);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_is_compacted_and_data_survives_restart_from_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let tune = |o: &mut tresor_raft::RaftOptions| {
        o.snapshot_threshold = 100;
        o.trailing_logs = 50;
    };
    let store = single_leader(dir.path(), "vault-1", tune).await;
    let mut max_seen = 0;
    for i in 0..2000u32 {
        store
            .put(&format!("c/{i:05}"), format!("value-{i}").into_bytes())
            .await
            .unwrap();
        if i % 100 == 99 {
            max_seen = max_seen.max(store.log_entry_count().await.unwrap());
        }
    }
    let status = wait_until(&store, "snapshot taken", |s| s.snapshot_index.is_some()).await;
    assert!(status.purged_index.is_some(), "log was purged: {status:?}");
    let count = store.log_entry_count().await.unwrap();
    // threshold + trailing + purge batch + in-flight slack, far below 2000.
    assert!(count < 400, "log holds {count} entries");
    assert!(max_seen < 400, "log peaked at {max_seen} entries");
    assert!(
        !store.snapshot_dir().join("current.snap").exists(),
        "no snapshot copy is kept"
    );
    store.shutdown().await.unwrap();
    drop(store);

    let store = common::open(dir.path(), "vault-1", tune).await;
    store.wait_for_leader(DEADLINE).await.unwrap();
    for i in (0..2000u32).step_by(7).chain([1999]) {
        assert_eq!(
            store.get(&format!("c/{i:05}")).await.unwrap(),
            Some(format!("value-{i}").into_bytes()),
            "key {i}"
        );
    }
    assert_eq!(store.list("c/").await.unwrap().len(), 2000);
    store.shutdown().await.unwrap();
}

/// `writers` tasks each put `per_writer` keys `<prefix>/<w>/<i>` of `len` bytes at once;
/// returns how many log entries the writes took (group commits share entries).
async fn write_concurrently(
    store: &Arc<tresor_raft::RaftStore>,
    prefix: &str,
    (writers, per_writer): (u64, u64),
    len: usize,
) -> u64 {
    let before = store.metrics().await.last_log_index.unwrap_or(0);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(store);
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                store
                    .put(&format!("{prefix}/{w:02}/{i:02}"), vec![w as u8; len])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store.metrics().await.last_log_index.unwrap_or(0) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_raft_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    let (writers, per_writer) = (64, 50);
    let entries = write_concurrently(&store, "g", (writers, per_writer), 64).await;
    let writes = writers * per_writer;
    eprintln!("{writes} writes used {entries} raft entries");
    assert!(
        entries < writes / 2,
        "{writes} writes used {entries} entries"
    );
    for w in 0..writers {
        assert_eq!(
            store.list(&format!("g/{w:02}/")).await.unwrap().len(),
            per_writer as usize
        );
    }
    store.shutdown().await.unwrap();
}

/// `trailing_logs` counts writes, not entries: with group commits packing many writes into
/// one entry, the log behind a snapshot keeps about `trailing_logs` writes' worth of entries
/// (whole segments), not `trailing_logs` entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_trail_behind_a_snapshot_counts_writes() {
    let dir = tempfile::tempdir().unwrap();
    let trailing = 200u64;
    let tune = move |o: &mut tresor_raft::RaftOptions| {
        // Snapshots only when asked; small segments so purges free whole files.
        o.snapshot_threshold = 1_000_000;
        o.trailing_logs = trailing;
        o.log_segment_bytes = 16 * 1024;
    };
    let store = single_leader(dir.path(), "vault-1", tune).await;
    let (writers, per_writer) = (32u64, 40u64);
    let entries = write_concurrently(&store, "t", (writers, per_writer), 256).await;
    let last = store.metrics().await.last_log_index.unwrap_or(0);
    let writes = writers * per_writer;
    assert!(
        entries * 3 < writes,
        "the writes must share entries for this test: {writes} writes in {entries} entries"
    );
    store.trigger_snapshot().await.unwrap();
    wait_until(&store, "snapshot taken", |s| s.snapshot_index == Some(last)).await;
    // openraft alone would keep `trailing` entries, which here hold several times
    // `trailing` writes; counted in writes the purge goes further.
    let status = wait_until(&store, "log purged behind the trail", |s| {
        s.purged_index.is_some_and(|p| last - p < trailing)
    })
    .await;
    let kept = store.log_entry_count().await.unwrap();
    eprintln!(
        "{writes} writes in {entries} entries; after the snapshot at {last} the log holds {kept} \
         entries (purged up to {:?})",
        status.purged_index
    );
    assert!(kept < trailing, "{kept} entries kept");
    // The trail is still there: at least the entries holding the last `trailing` writes
    // (at most `writers` writes each).
    assert!(
        kept >= trailing / writers,
        "{kept} entries kept, fewer than the trail needs"
    );
    // Everything reads back after a restart from the snapshot and the trail.
    store.shutdown().await.unwrap();
    drop(store);
    let store = common::open(dir.path(), "vault-1", tune).await;
    store.wait_for_leader(DEADLINE).await.unwrap();
    for w in 0..writers {
        assert_eq!(
            store.list(&format!("t/{w:02}/")).await.unwrap().len(),
            per_writer as usize
        );
    }
    store.shutdown().await.unwrap();
}

/// `snapshot_threshold` counts writes too: a snapshot comes after that many writes even when
/// group commits packed them into far fewer entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_come_after_threshold_writes_not_entries() {
    let dir = tempfile::tempdir().unwrap();
    let threshold = 300u64;
    let store = single_leader(dir.path(), "vault-1", move |o| {
        o.snapshot_threshold = threshold;
    })
    .await;
    let entries = write_concurrently(&store, "n", (32, 40), 64).await;
    assert!(
        entries < threshold,
        "the writes must share entries for this test: 1280 writes in {entries} entries"
    );
    let status = wait_until(&store, "a snapshot after 300 writes", |s| {
        s.snapshot_index.is_some()
    })
    .await;
    eprintln!(
        "1280 writes in {entries} entries; snapshot at {:?}",
        status.snapshot_index
    );
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_stream_never_loses_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let key = format!("s/{w:02}/{i:05}");
                match store.put(&key, key.clone().into_bytes()).await {
                    Ok(()) => acked.push(key),
                    Err(StorageError::Unavailable(_) | StorageError::Unknown(_)) => break,
                    Err(e) => panic!("unexpected error during shutdown: {e}"),
                }
            }
            acked
        }));
    }
    // Let a few hundred writes through, then stop the node underneath the writers.
    wait_until(&store, "writes flowing", |s| {
        s.applied_index.unwrap_or(0) > 50
    })
    .await;
    store.shutdown().await.unwrap();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    drop(store);
    assert!(!acked.is_empty());

    let store = common::open(dir.path(), "vault-1", |_| {}).await;
    store.wait_for_leader(DEADLINE).await.unwrap();
    for key in &acked {
        assert_eq!(
            store.get(key).await.unwrap(),
            Some(key.clone().into_bytes()),
            "acknowledged {key} lost"
        );
    }
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_snapshot_verifies_and_counts_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = single_leader(dir.path(), "vault-1", |_| {}).await;
    for i in 0..30u32 {
        store.put(&format!("e/{i}"), vec![1; 10]).await.unwrap();
    }
    let bytes = store.export_snapshot(Vec::new()).await.unwrap();
    let info = tresor_raft::inspect_snapshot(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(info.keys, 30);
    assert_eq!(info.members, vec!["vault-1".to_owned()]);
    assert_eq!(info.last_index, store.metrics().await.applied_index);
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    assert!(tresor_raft::inspect_snapshot(std::io::Cursor::new(&bad)).is_err());
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freshly_opened_node_refuses_votes_for_one_election_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path(), "vault-1", |_| {}).await;
    // Right after opening, a vote request is refused before it is even decoded.
    let early = store
        .handle_rpc(tresor_raft::RpcKind::Vote, b"not a vote request")
        .await;
    assert!(
        matches!(&early, Err(tresor_raft::RaftError::Unavailable(m)) if m.contains("not voting")),
        "{early:?}"
    );
    // Other RPCs are served at once (this one fails to decode, which shows it got through).
    let append = store
        .handle_rpc(tresor_raft::RpcKind::AppendEntries, b"not a request")
        .await;
    assert!(
        matches!(append, Err(tresor_raft::RaftError::Rpc(_))),
        "{append:?}"
    );
    // After the hold (the election timeout maximum at multiplier 1) votes reach openraft.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let res = store
            .handle_rpc(tresor_raft::RpcKind::Vote, b"not a vote request")
            .await;
        if matches!(res, Err(tresor_raft::RaftError::Rpc(_))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refusing: {res:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store.shutdown().await.unwrap();
}
