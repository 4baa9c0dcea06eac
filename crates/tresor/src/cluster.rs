//! This node's end of the cluster port: the Raft transport and the mutual-TLS server, both
//! without certificates until the node's identity is known (read from the unsealed barrier,
//! created by the first active node, or received when joining), plus the `forward` route.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tresor_cluster::{
    ClientOptions, ClusterClient, ClusterError, ClusterHandler, ClusterIdentity, ClusterRequest,
    ClusterRouter, ClusterServer, RaftHandler, ServerOptions, TlsTransport,
};
use tresor_core::{ForwardedRequest, ForwardedResponse};
use tresor_http::AppState;
use tresor_raft::{NodeInfo, RaftError, RaftStore, RpcKind, Transport};

/// The cluster-port route of forwarded client requests.
pub(crate) const FORWARD_ROUTE: &str = "forward";

/// The cluster port of one node.
pub(crate) struct ClusterNode {
    transport: RwLock<Option<TlsTransport>>,
    listener: Mutex<Option<TcpListener>>,
    server: Mutex<Option<Arc<ClusterServer>>>,
    handler: OnceLock<Arc<dyn ClusterHandler>>,
    installed: AtomicBool,
    options: ClientOptions,
    shutdown: CancellationToken,
}

impl ClusterNode {
    /// A node that serves on `listener` (if bound) once it has an identity.
    pub(crate) fn new(
        listener: Option<TcpListener>,
        options: ClientOptions,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            transport: RwLock::new(None),
            listener: Mutex::new(listener),
            server: Mutex::new(None),
            handler: OnceLock::new(),
            installed: AtomicBool::new(false),
            options,
            shutdown,
        })
    }

    /// Sets what the server answers: Raft RPCs and forwarded requests.
    pub(crate) fn set_handlers(&self, raft: Arc<RaftStore>, state: AppState) {
        let router = ClusterRouter::new()
            .route("raft", Arc::new(RaftHandler::new(raft)))
            .route(FORWARD_ROUTE, Arc::new(ForwardHandler { state }));
        let _ = self.handler.set(Arc::new(router));
    }

    /// Whether an identity is installed.
    pub(crate) fn has_identity(&self) -> bool {
        self.installed.load(Ordering::Acquire)
    }

    /// Installs (or replaces) this node's certificates on the transport and the server, and
    /// starts the server on first use.
    pub(crate) fn install(&self, identity: &ClusterIdentity) -> Result<(), ClusterError> {
        {
            let mut t = self.transport.write().unwrap_or_else(|e| e.into_inner());
            match t.as_ref() {
                Some(existing) => existing.set_identity(identity)?,
                None => *t = Some(TlsTransport::new(identity, self.options.clone())?),
            }
        }
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        match server.as_ref() {
            Some(s) => s.set_identity(identity)?,
            None => {
                let listener = self
                    .listener
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let (Some(listener), Some(handler)) = (listener, self.handler.get()) {
                    let s =
                        ClusterServer::new(identity, handler.clone(), ServerOptions::default())?;
                    let token = self.shutdown.clone();
                    let serving = s.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serving.serve(listener, token).await {
                            tracing::error!(error = %e, "cluster port failed");
                        }
                    });
                    *server = Some(s);
                }
            }
        }
        self.installed.store(true, Ordering::Release);
        Ok(())
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
        match transport {
            Some(t) => t.call(target, kind, request).await,
            None => Err(RaftError::Rpc("no cluster identity yet".into())),
        }
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
