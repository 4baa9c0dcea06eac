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

/// Three (or `n`) nodes on one [`InProcessNetwork`], each in its own directory under one
/// temp dir, that can be killed (shut down and dropped) and reopened from their directories.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub net: InProcessNetwork,
    pub names: Vec<String>,
    stores: Vec<Option<Arc<RaftStore>>>,
    opts_fn: fn(&mut RaftOptions),
}

impl TestCluster {
    /// Opens `n` nodes `vault-1..`, bootstraps the first and makes them all voters.
    pub async fn start(n: usize, opts_fn: fn(&mut RaftOptions)) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let net = InProcessNetwork::new();
        let names: Vec<String> = (1..=n).map(|i| format!("vault-{i}")).collect();
        let mut stores = Vec::new();
        for name in &names {
            stores.push(Some(open_on(&net, dir.path(), name, opts_fn).await));
        }
        let first = stores[0].clone().unwrap();
        first.bootstrap_single().await.unwrap();
        first.wait_for_leader(DEADLINE).await.unwrap();
        for s in stores.iter().skip(1).flatten() {
            first
                .add_learner(s.node_id(), s.node_info().clone())
                .await
                .unwrap();
        }
        first.change_membership(&names).await.unwrap();
        TestCluster {
            dir,
            net,
            names,
            stores,
            opts_fn,
        }
    }

    /// Node `i` (panics if it is killed).
    pub fn node(&self, i: usize) -> Arc<RaftStore> {
        self.stores[i].clone().expect("node is running")
    }

    /// The index of the node named `name`.
    pub fn index_of(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).unwrap()
    }

    /// Waits until a running node other than `not` leads, as seen by the running node
    /// `observer`, and that leader has caught up; returns its index.
    pub async fn wait_new_leader(&self, observer: usize, not: Option<usize>) -> usize {
        let not_name = not.map(|i| self.names[i].clone());
        let st = wait_until(&self.node(observer), "a new leader", |s| {
            s.leader.is_some() && s.leader != not_name
        })
        .await;
        let i = self.index_of(st.leader.as_deref().unwrap());
        self.node(i).wait_for_leader(DEADLINE).await.unwrap();
        i
    }

    /// Shuts node `i` down, makes it unreachable and drops it (its files stay).
    pub async fn kill(&mut self, i: usize) {
        if let Some(store) = self.stores[i].take() {
            store.shutdown().await.unwrap();
            self.net.unregister(store.node_id());
        }
    }

    /// Reopens killed node `i` from its directory.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.stores[i].is_none(), "restart of a running node");
        let store = open_on(&self.net, self.dir.path(), &self.names[i], self.opts_fn).await;
        self.stores[i] = Some(store);
    }

    /// Shuts every running node down.
    pub async fn shutdown(mut self) {
        for i in 0..self.stores.len() {
            self.kill(i).await;
        }
    }
}
