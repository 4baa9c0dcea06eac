//! kill -9 in the middle of acknowledged writes loses nothing that was acknowledged.
//!
//! The test re-executes its own binary as a child (selected by an environment variable); the
//! child writes keys from several tasks and prints `ACK <key>` after each write returns `Ok`.
//! The parent SIGKILLs it mid-stream, reopens the store and checks every acknowledged key.
//! The log runs with small segments, so segments roll over and are purged during the run;
//! one variant also leaves a torn record (a half-written one, then zeroes) at the end of the
//! last segment before reopening, as a crash in the middle of a write would.

#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{DEADLINE, single_leader};
use tresor_storage::Backend;

const CHILD_ENV: &str = "TRESOR_RAFT_CRASH_CHILD_DIR";
const KILL_AFTER_ACKS: usize = 2500;
/// Small segments: the run rolls over several and purges some.
const SEGMENT_BYTES: u64 = 16 * 1024;

fn tune(o: &mut tresor_raft::RaftOptions) {
    o.snapshot_threshold = 150;
    o.trailing_logs = 20;
    o.log_segment_bytes = SEGMENT_BYTES;
}

fn value_for(key: &str) -> Vec<u8> {
    format!("value-of-{key}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when spawned by `acknowledged_writes_survive_kill_9`.
    };
    let store = single_leader(std::path::Path::new(&dir), "vault-1", tune).await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("k/{w}/{i:06}");
                store.put(&key, value_for(&key)).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {key}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// What the parent does to the log after the kill, before reopening.
#[derive(Clone, Copy, PartialEq)]
enum Damage {
    None,
    /// A half-written record and zeroes after the last one in the last segment.
    TornTail,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    kill_reopen_check(Damage::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_a_torn_last_record() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    kill_reopen_check(Damage::TornTail).await;
}

/// The segment files of the log, oldest first.
fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs
}

/// The `crash_child` test's name inside this test binary: this module's path without the
/// binary's crate name (`crash::crash_child` when this file is a module of `tests/main.rs`).
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::crash_child"),
        None => "crash_child".to_owned(),
    }
}

async fn kill_reopen_check(damage: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            &child_test_name(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        while acked.len() < KILL_AFTER_ACKS {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(key) = line.strip_prefix("ACK ") {
                        acked.push(key.to_owned());
                    }
                }
                _ => panic!("child ended after {} acks", acked.len()),
            }
        }
        child.kill().unwrap(); // SIGKILL
        // Acks already written before the kill are still in the pipe.
        for line in lines.map_while(Result::ok) {
            if let Some(key) = line.strip_prefix("ACK ") {
                acked.push(key.to_owned());
            }
        }
        child.wait().unwrap();
        acked
    })
    .await
    .unwrap();
    assert!(acked.len() >= KILL_AFTER_ACKS);

    // The log is in segment files; there is no redb log.
    let data_dir = dir.path().join("vault-1");
    assert!(!data_dir.join("raft.redb").exists());
    let segs = segments(&data_dir);
    assert!(!segs.is_empty(), "no segment files");
    let first_index =
        |p: &PathBuf| -> u64 { p.file_stem().unwrap().to_str().unwrap().parse().unwrap() };
    assert!(
        first_index(&segs[0]) > 1,
        "old segments were purged after snapshots: {segs:?}"
    );
    let last = segs.last().unwrap().clone();
    if damage == Damage::TornTail {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .unwrap();
        // A record header announcing 4000 bytes, 1000 of them written, then zeroes.
        f.write_all(&4000u32.to_le_bytes()).unwrap();
        f.write_all(&0xDEAD_BEEFu32.to_le_bytes()).unwrap();
        f.write_all(&[1u8; 1000]).unwrap();
        f.write_all(&[0u8; 3000]).unwrap();
        f.sync_all().unwrap();
    }

    // Opening cuts the torn record off (a torn record anywhere but at the end of the last
    // segment would refuse the open).
    let store = common::open(dir.path(), "vault-1", tune).await;
    store.wait_for_leader(DEADLINE).await.unwrap();
    for key in &acked {
        assert_eq!(
            store.get(key).await.unwrap(),
            Some(value_for(key)),
            "acknowledged key {key} lost ({} acked)",
            acked.len()
        );
    }
    eprintln!("{} acknowledged writes survived kill -9", acked.len());
    store.shutdown().await.unwrap();
}
