//! Write throughput of a single-node Raft store: 32 concurrent writers of 256-byte values.
//!
//! `cargo run --release -p tresor-raft --example raft_write_bench [seconds] [dir]`
//! Prints the figures; asserts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tresor_raft::{InProcessNetwork, RaftOptions, RaftStore};
use tresor_storage::Backend;

const WRITERS: usize = 32;
const VALUE_LEN: usize = 256;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let opts = RaftOptions::new(
        dir.join("bench"),
        "bench-1",
        "http://127.0.0.1:8200",
        "127.0.0.1:8201",
    );
    let store = RaftStore::open(opts, InProcessNetwork::new().transport_for("bench-1")).await?;
    store.bootstrap_single().await?;
    store.wait_for_leader(Duration::from_secs(10)).await?;
    let start_index = store.metrics().await.last_log_index.unwrap_or(0);

    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let value = vec![w as u8; VALUE_LEN];
            let mut i = 0u64;
            while Instant::now() < deadline {
                store
                    .put(&format!("bench/{w}/{}", i % 1000), value.clone())
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok::<_, tresor_storage::StorageError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let writes = done.load(Ordering::Relaxed);
    let entries = store.metrics().await.last_log_index.unwrap_or(0) - start_index;
    println!(
        "{WRITERS} writers x {VALUE_LEN} B values: {writes} writes in {elapsed:.2} s = {:.0} ops/s; \
         {entries} raft entries ({:.1} writes/entry)",
        writes as f64 / elapsed,
        writes as f64 / entries.max(1) as f64
    );
    store.shutdown().await?;
    Ok(())
}
