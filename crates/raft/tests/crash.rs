//! kill -9 in the middle of acknowledged writes loses nothing that was acknowledged.
//!
//! The test re-executes its own binary as a child (selected by an environment variable); the
//! child writes keys from several tasks and prints `ACK <key>` after each write returns `Ok`.
//! The parent SIGKILLs it mid-stream, reopens the store and checks every acknowledged key.

#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{DEADLINE, single_leader};
use tresor_storage::Backend;

const CHILD_ENV: &str = "TRESOR_RAFT_CRASH_CHILD_DIR";
const KILL_AFTER_ACKS: usize = 2500;

fn value_for(key: &str) -> Vec<u8> {
    format!("value-of-{key}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when spawned by `acknowledged_writes_survive_kill_9`.
    };
    let store = single_leader(std::path::Path::new(&dir), "vault-1", |o| {
        o.snapshot_threshold = 150;
        o.trailing_logs = 20;
    })
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
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

    let store = common::open(dir.path(), "vault-1", |o| {
        o.snapshot_threshold = 150;
        o.trailing_logs = 20;
    })
    .await;
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
