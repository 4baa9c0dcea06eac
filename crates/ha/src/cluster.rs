//! This node's end of the cluster port: the Raft transport and the mutual-TLS server, both
//! without certificates until the node's identity is known (read from the unsealed barrier,
//! created by the first active node, or received when joining), plus the `forward` route.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tresor_cluster::{
    ClientOptions, ClusterClient, ClusterError, ClusterHandler, ClusterIdentity, ClusterRequest,
    ClusterRouter, ClusterServer, RaftHandler, RevokedCerts, ServerOptions, TlsTransport,
};
use tresor_core::{ForwardedRequest, ForwardedResponse};
use tresor_http::AppState;
use tresor_raft::{NodeInfo, RaftError, RaftStore, RpcKind, Transport};

/// The cluster-port route of forwarded client requests.
pub(crate) const FORWARD_ROUTE: &str = "forward";
/// The cluster-port route by which a standby asks the active node for a read index.
pub(crate) const READ_INDEX_ROUTE: &str = "read-index";
/// The cluster-port route by which the leader tells a node it was removed from the cluster.
pub(crate) const REMOVED_ROUTE: &str = "removed";
/// File in the Raft data directory marking a node that was removed from its cluster.
pub(crate) const REMOVED_MARKER: &str = "removed-from-cluster";
/// How long the leader tries to deliver a removal notice.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);

/// The cluster port of one node. It holds no handler: [`serve`] (a task of the runtime,
/// started with the handlers) builds the server once an identity is installed, and later
/// installs reach that server before they return.
pub(crate) struct ClusterNode {
    transport: RwLock<Option<TlsTransport>>,
    options: ClientOptions,
    /// When each peer last answered a Raft RPC from this node (by node id).
    contacts: Mutex<HashMap<String, Instant>>,
    /// Set once this node learns it was removed from the cluster.
    removed: Arc<AtomicBool>,
    /// Certificates of removed nodes, refused by both the server and the client (shared with
    /// every installed identity's TLS verifiers).
    revoked: RevokedCerts,
    /// The identity installed last (with `revoked` attached).
    identity: watch::Sender<Option<ClusterIdentity>>,
    /// The server, once [`serve`](Self::serve) built it: later installs reach it before they
    /// return, so a revocation has closed the revoked peer's open connections by then.
    server: Mutex<Option<Arc<ClusterServer>>>,
}

impl ClusterNode {
    /// A node without identity whose client uses `options`.
    pub(crate) fn new(options: ClientOptions) -> Arc<Self> {
        Arc::new(Self {
            transport: RwLock::new(None),
            options,
            contacts: Mutex::new(HashMap::new()),
            removed: Arc::new(AtomicBool::new(false)),
            revoked: RevokedCerts::new(),
            identity: watch::Sender::new(None),
            server: Mutex::new(None),
        })
    }

    /// Replaces the revoked certificates (fingerprint → node id). When the set changes, open
    /// connections are closed (server) and dropped (client), so that a revoked peer cannot
    /// keep talking on a connection made before; new handshakes see the new set. Returns
    /// whether it changed.
    pub(crate) fn set_revoked(
        &self,
        entries: HashMap<String, String>,
    ) -> Result<bool, ClusterError> {
        if !self.revoked.replace(entries) {
            return Ok(false);
        }
        let current = self.identity.borrow().clone();
        if let Some(identity) = current {
            self.install(&identity)?;
        }
        Ok(true)
    }

    /// When `node_id` last answered a Raft RPC from this node.
    pub(crate) fn last_contact(&self, node_id: &str) -> Option<Instant> {
        self.contacts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(node_id)
            .copied()
    }

    fn record_contact(&self, node_id: &str) {
        self.contacts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node_id.to_owned(), Instant::now());
    }

    /// Whether this node was told (or found) that it is no longer a cluster member.
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Marks this node as removed (in memory; the marker file is written by the caller).
    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    /// Leader: tells `node_id` at `cluster_addr` it was removed (best effort).
    pub(crate) async fn notify_removed(&self, node_id: &str, cluster_addr: &str) {
        let Some(client) = self.client() else { return };
        let body = Bytes::from(serde_json::json!({ "node_id": node_id }).to_string());
        let call = client.call(cluster_addr, REMOVED_ROUTE, body);
        match tokio::time::timeout(NOTICE_TIMEOUT, call).await {
            Ok(Ok(_)) => tracing::info!(node = %node_id, "removed node notified"),
            Ok(Err(e)) => tracing::debug!(node = %node_id, error = %e, "removal notice failed"),
            Err(_) => tracing::debug!(node = %node_id, "removal notice timed out"),
        }
    }

    /// What the cluster port answers: Raft RPCs, forwarded requests (replayed through
    /// `state`'s API router) and removal notices.
    pub(crate) fn handlers(
        &self,
        raft: Arc<RaftStore>,
        state: AppState,
    ) -> Arc<dyn ClusterHandler> {
        let removed = RemovedHandler {
            node_id: raft.node_id().to_owned(),
            marker: raft.data_dir().join(REMOVED_MARKER),
            removed: self.removed.clone(),
        };
        let read_index = ReadIndexHandler {
            raft: raft.clone(),
            core: state.core.clone(),
        };
        let router = ClusterRouter::new()
            .route("raft", Arc::new(RaftHandler::new(raft)))
            .route(FORWARD_ROUTE, Arc::new(ForwardHandler { state }))
            .route(READ_INDEX_ROUTE, Arc::new(read_index))
            .route(REMOVED_ROUTE, Arc::new(removed));
        Arc::new(router)
    }

    /// Whether an identity is installed.
    pub(crate) fn has_identity(&self) -> bool {
        self.identity.borrow().is_some()
    }

    /// Installs (or replaces) this node's certificates on the transport, and hands them to
    /// the server task.
    pub(crate) fn install(&self, identity: &ClusterIdentity) -> Result<(), ClusterError> {
        let identity = identity.with_revocations(&self.revoked);
        {
            let mut t = self.transport.write().unwrap_or_else(|e| e.into_inner());
            match t.as_ref() {
                Some(existing) => existing.set_identity(&identity)?,
                None => *t = Some(TlsTransport::new(&identity, self.options.clone())?),
            }
        }
        // Under the server slot's lock: an install either precedes the server (which is
        // built from the latest identity) or reaches it here, before returning.
        let slot = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = slot.as_ref() {
            server.set_identity(&identity)?;
        }
        self.identity.send_replace(Some(identity));
        Ok(())
    }

    /// Serves the cluster port on `listener` with `handler` until `shutdown`: waits for the
    /// first identity, then serves with the latest one; later installs (rotation,
    /// revocations) reach the server directly.
    pub(crate) async fn serve(
        &self,
        listener: TcpListener,
        handler: Arc<dyn ClusterHandler>,
        shutdown: CancellationToken,
    ) -> Result<(), ClusterError> {
        let mut rx = self.identity.subscribe();
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            first = rx.wait_for(Option::is_some) => if first.is_err() { return Ok(()) },
        }
        let server = {
            let mut slot = self.server.lock().unwrap_or_else(|e| e.into_inner());
            let Some(latest) = self.identity.borrow().clone() else {
                return Ok(());
            };
            let server = ClusterServer::new(&latest, handler, ServerOptions::default())?;
            *slot = Some(server.clone());
            server
        };
        server.serve(listener, shutdown).await
    }

    /// The client of the cluster port, once an identity is installed.
    pub(crate) fn client(&self) -> Option<Arc<ClusterClient>> {
        self.transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|t| t.client().clone())
    }

    /// Sends a client request to the active node at `cluster_addr`.
    pub(crate) async fn forward(
        &self,
        cluster_addr: &str,
        req: &ForwardedRequest,
    ) -> Result<ForwardedResponse, ClusterError> {
        let client = self
            .client()
            .ok_or_else(|| ClusterError::Unavailable("no cluster identity yet".into()))?;
        let body = serde_json::to_vec(req).map_err(|e| ClusterError::Handler(e.to_string()))?;
        let reply = client
            .call(cluster_addr, FORWARD_ROUTE, Bytes::from(body))
            .await?;
        serde_json::from_slice(&reply).map_err(|e| ClusterError::Handler(e.to_string()))
    }
}

impl ClusterNode {
    /// Asks the active node at `cluster_addr` for a read index (see [`ReadIndexHandler`]).
    pub(crate) async fn read_index(&self, cluster_addr: &str) -> Result<u64, ClusterError> {
        let client = self
            .client()
            .ok_or_else(|| ClusterError::Unavailable("no cluster identity yet".into()))?;
        let reply = client
            .call(cluster_addr, READ_INDEX_ROUTE, Bytes::new())
            .await?;
        let bytes: [u8; 8] = reply.as_ref().try_into().map_err(|_| {
            ClusterError::Handler(format!("read index reply of {} bytes", reply.len()))
        })?;
        Ok(u64::from_be_bytes(bytes))
    }
}

/// The Raft transport of a [`ClusterNode`]: fails every RPC until an identity is installed.
pub(crate) struct NodeTransport(pub(crate) Arc<ClusterNode>);

#[async_trait]
impl Transport for NodeTransport {
    async fn call(
        &self,
        target: &NodeInfo,
        kind: RpcKind,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, RaftError> {
        let transport = self
            .0
            .transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(t) = transport else {
            return Err(RaftError::Rpc("no cluster identity yet".into()));
        };
        let reply = t.call(target, kind, request).await;
        if reply.is_ok() {
            self.0.record_contact(&target.node_id);
        }
        reply
    }
}

/// Serves `forward`: replays a standby's request through this node's API router.
struct ForwardHandler {
    state: AppState,
}

#[async_trait]
impl ClusterHandler for ForwardHandler {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        let req: ForwardedRequest = serde_json::from_slice(&request.body)
            .map_err(|e| ClusterError::BadRequest(format!("forwarded request: {e}")))?;
        let resp = tresor_http::serve_forwarded(self.state.clone(), req).await;
        serde_json::to_vec(&resp)
            .map(Bytes::from)
            .map_err(|e| ClusterError::Handler(e.to_string()))
    }
}

/// Serves `read-index` on the active node: confirms that this node still leads (through the
/// same coalesced barrier, with its lease, as its own reads), then answers its applied index
/// (8 bytes, big-endian). Every write acknowledged to a client before the question arrived is
/// applied at or below that index, so a standby that has applied it may answer a read.
struct ReadIndexHandler {
    raft: Arc<RaftStore>,
    core: Arc<tresor_core::Core>,
}

#[async_trait]
impl ClusterHandler for ReadIndexHandler {
    async fn handle(&self, _request: ClusterRequest) -> Result<Bytes, ClusterError> {
        if !self.core.is_active_node() {
            return Err(ClusterError::Unavailable("not the active node".into()));
        }
        self.core
            .ha()
            .leadership
            .confirm_leadership()
            .await
            .map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        // The active node acknowledges a write only after applying it, so its applied index
        // covers every acknowledged write (and everything at or below it is committed).
        let index = self.raft.applied_index_now();
        Ok(Bytes::copy_from_slice(&index.to_be_bytes()))
    }
}

/// Serves `removed`: the leader's notice that this node left the configuration. Only
/// cluster members (holders of a certificate from the cluster CA) reach this route.
struct RemovedHandler {
    node_id: String,
    marker: PathBuf,
    removed: Arc<AtomicBool>,
}

#[async_trait]
impl ClusterHandler for RemovedHandler {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        let notice: serde_json::Value = serde_json::from_slice(&request.body)
            .map_err(|e| ClusterError::BadRequest(format!("removal notice: {e}")))?;
        if notice["node_id"].as_str() != Some(self.node_id.as_str()) {
            return Err(ClusterError::BadRequest(
                "removal notice for another node".into(),
            ));
        }
        if !self.removed.swap(true, Ordering::AcqRel) {
            tracing::warn!("this node was removed from the raft cluster; it no longer campaigns");
        }
        if let Err(e) = std::fs::write(&self.marker, b"removed\n") {
            tracing::warn!(error = %e, "could not write the removed-from-cluster marker");
        }
        Ok(Bytes::new())
    }
}

/// The host part of an address such as `https://10.0.0.1:8201` or `[::1]:8201`.
pub(crate) fn host_of(addr: &str) -> String {
    let rest = addr.split_once("://").map(|(_, r)| r).unwrap_or(addr);
    let rest = rest.split('/').next().unwrap_or(rest);
    let host = match rest.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => h,
        _ => rest,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// `host:port` of an address without its scheme (`https://a:1` → `a:1`).
pub(crate) fn strip_scheme(addr: &str) -> String {
    let rest = addr.split_once("://").map(|(_, r)| r).unwrap_or(addr);
    rest.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_authorities_are_extracted() {
        assert_eq!(host_of("https://10.0.0.1:8201"), "10.0.0.1");
        assert_eq!(host_of("127.0.0.1:8201"), "127.0.0.1");
        assert_eq!(host_of("https://[::1]:8201/"), "::1");
        assert_eq!(host_of("https://node-2.internal"), "node-2.internal");
        assert_eq!(strip_scheme("https://127.0.0.1:8201/"), "127.0.0.1:8201");
        assert_eq!(strip_scheme("127.0.0.1:8201"), "127.0.0.1:8201");
    }
}
