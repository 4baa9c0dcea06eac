//! Shared helpers for the raft integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tresor_raft::{InProcessNetwork, RaftOptions, RaftStatus, RaftStore};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn options(dir: &Path, node: &str) -> RaftOptions {
    let mut o = RaftOptions::new(
        dir.join(node),
        node,
        format!("http://{node}:8200"),
        format!("{node}:8201"),
    );
    o.performance_multiplier = 1;
    o
}

/// Opens `node` under `dir`, retrying while a previous instance still holds the files.
pub async fn open(dir: &Path, node: &str, opts_fn: impl Fn(&mut RaftOptions)) -> Arc<RaftStore> {
    let net = InProcessNetwork::new();
    open_on(&net, dir, node, opts_fn).await
}

pub async fn open_on(
    net: &InProcessNetwork,
    dir: &Path,
    node: &str,
    opts_fn: impl Fn(&mut RaftOptions),
) -> Arc<RaftStore> {
    let mut opts = options(dir, node);
    opts_fn(&mut opts);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match RaftStore::open(opts.clone(), net.transport_for(node)).await {
            Ok(store) => {
                net.register(&store);
                return store;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("open {node}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("open {node}: {e}"),
        }
    }
}

/// Waits (on metrics, with a deadline) until `pred` holds.
pub async fn wait_until(
    store: &RaftStore,
    what: &str,
    pred: impl Fn(&RaftStatus) -> bool,
) -> RaftStatus {
    let mut rx = store.raft().metrics();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = store.metrics().await;
        if pred(&status) {
            return status;
        }
        let _ = rx.borrow_and_update();
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{what}: raft stopped; last status {status:?}"),
            Err(_) => panic!("{what}: deadline passed; last status {status:?}"),
        }
    }
}

pub async fn single_leader(
    dir: &Path,
    node: &str,
    opts_fn: impl Fn(&mut RaftOptions),
) -> Arc<RaftStore> {
    let store = open(dir, node, opts_fn).await;
    store.bootstrap_single().await.unwrap();
    store.wait_for_leader(DEADLINE).await.unwrap();
    store
}
