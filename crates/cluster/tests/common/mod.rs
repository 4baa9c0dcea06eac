//! Shared helpers for the cluster-port integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tresor_cluster::{
    CancellationToken, ClientOptions, ClusterError, ClusterHandler, ClusterIdentity,
    ClusterRequest, ClusterServer, RaftHandler, ServerOptions, TlsTransport,
};
use tresor_raft::{RaftOptions, RaftStatus, RaftStore, Timing};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Counts requests, then delegates.
pub struct Counting {
    pub inner: Arc<dyn ClusterHandler>,
    pub seen: AtomicUsize,
}

impl Counting {
    pub fn new(inner: Arc<dyn ClusterHandler>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            seen: AtomicUsize::new(0),
        })
    }

    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ClusterHandler for Counting {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        self.inner.handle(request).await
    }
}

/// Answers every request with the DER of the caller's leaf certificate.
pub struct PeerCertEcho;

#[async_trait]
impl ClusterHandler for PeerCertEcho {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        let leaf = request
            .peer_certificates
            .first()
            .ok_or_else(|| ClusterError::Handler("no peer certificate".into()))?;
        Ok(Bytes::copy_from_slice(leaf.as_ref()))
    }
}

/// A running cluster-port server.
pub struct Served {
    pub addr: String,
    pub server: Arc<ClusterServer>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ClusterError>>,
}

impl Served {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("https://{}", listener.local_addr().unwrap());
    (listener, addr)
}

pub fn serve(
    listener: TcpListener,
    addr: String,
    identity: &ClusterIdentity,
    handler: Arc<dyn ClusterHandler>,
) -> Served {
    serve_with(listener, addr, identity, handler, ServerOptions::default())
}

pub fn serve_with(
    listener: TcpListener,
    addr: String,
    identity: &ClusterIdentity,
    handler: Arc<dyn ClusterHandler>,
    options: ServerOptions,
) -> Served {
    let server = ClusterServer::new(identity, handler, options).unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.clone().serve(listener, shutdown.clone()));
    Served {
        addr,
        server,
        shutdown,
        task,
    }
}

pub fn node_identity(ca: &ClusterIdentity, node: &str) -> ClusterIdentity {
    ca.issue_node_identity(node, &["127.0.0.1".to_owned()])
        .unwrap()
}

pub fn client_options() -> ClientOptions {
    ClientOptions::for_timing(Timing::for_multiplier(1))
}

/// One Raft node on a real cluster port.
pub struct Node {
    pub name: String,
    pub store: Arc<RaftStore>,
    pub transport: Arc<TlsTransport>,
    pub handler: Arc<Counting>,
    pub served: Served,
}

impl Node {
    pub fn addr(&self) -> &str {
        &self.served.addr
    }

    /// Swaps the node's certificates on both its server and its transport.
    pub fn rotate(&self, identity: &ClusterIdentity) {
        self.served.server.set_identity(identity).unwrap();
        self.transport.set_identity(identity).unwrap();
    }

    /// Stops Raft and closes the cluster port (as if the process died).
    pub async fn kill(self) {
        self.store.shutdown().await.unwrap();
        self.served.stop().await;
    }
}

pub async fn start_node(dir: &Path, name: &str, identity: &ClusterIdentity) -> Node {
    let (listener, addr) = bind().await;
    let transport = Arc::new(TlsTransport::new(identity, client_options()).unwrap());
    let mut opts = RaftOptions::new(
        dir.join(name),
        name,
        format!("http://{name}:8200"),
        addr.clone(),
    );
    opts.performance_multiplier = 1;
    let store = RaftStore::open(opts, transport.clone()).await.unwrap();
    let handler = Counting::new(Arc::new(RaftHandler::new(store.clone())));
    let served = serve(listener, addr, identity, handler.clone());
    Node {
        name: name.to_owned(),
        store,
        transport,
        handler,
        served,
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

/// Waits until `follower` has applied everything `leader` has in its log.
pub async fn wait_caught_up(leader: &RaftStore, follower: &RaftStore) {
    let target = leader.metrics().await.last_log_index;
    wait_until(follower, "follower caught up", |s| {
        s.applied_index >= target
    })
    .await;
}

/// Starts three nodes with certificates from `ca` and forms a three-voter cluster led by the
/// first.
pub async fn three_node_cluster(dir: &Path, ca: &ClusterIdentity) -> Vec<Node> {
    let mut nodes = Vec::new();
    for name in ["vault-1", "vault-2", "vault-3"] {
        nodes.push(start_node(dir, name, &node_identity(ca, name)).await);
    }
    let leader = &nodes[0].store;
    leader.bootstrap_single().await.unwrap();
    leader.wait_for_leader(DEADLINE).await.unwrap();
    for n in &nodes[1..] {
        tokio::time::timeout(
            DEADLINE,
            leader.add_learner(&n.name, n.store.node_info().clone()),
        )
        .await
        .unwrap()
        .unwrap();
    }
    leader
        .change_membership(&["vault-1".into(), "vault-2".into(), "vault-3".into()])
        .await
        .unwrap();
    nodes
}
