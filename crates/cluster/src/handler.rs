//! What the server dispatches requests to: [`ClusterHandler`], and [`ClusterRouter`] to serve
//! several route families (Raft today, joins and forwarding later) on one port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rustls::pki_types::CertificateDer;

use crate::ClusterError;
use crate::protocol::split_route;

/// One request received on the cluster port, after mutual TLS succeeded.
#[derive(Clone, Debug)]
pub struct ClusterRequest {
    /// The route: the path after `/cluster/v1/`, e.g. `raft/append_entries`.
    pub route: String,
    /// The request body (already size-checked).
    pub body: Bytes,
    /// The peer's socket address.
    pub peer_addr: SocketAddr,
    /// The peer's verified certificate chain (leaf first), for handlers that authorize by it.
    pub peer_certificates: Arc<Vec<CertificateDer<'static>>>,
}

/// Serves requests of the cluster port. A returned error becomes a non-2xx status (see
/// [`status_for`](crate::protocol::status_for)) with the error text as body.
#[async_trait]
pub trait ClusterHandler: Send + Sync + 'static {
    /// Answers one request.
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError>;

    /// How long the server lets a request of `route` run, when it needs longer than the
    /// server's request timeout (a Raft snapshot's last chunk is answered after the whole
    /// install). `None`: the server's timeout.
    fn time_limit(&self, route: &str) -> Option<Duration> {
        let _ = route;
        None
    }
}

/// Dispatches on the first route segment (`raft` in `raft/vote`) to the handler registered for
/// it; unknown segments answer [`ClusterError::NotFound`]. Handlers see the full route.
#[derive(Clone, Default)]
pub struct ClusterRouter {
    routes: HashMap<String, Arc<dyn ClusterHandler>>,
}

impl std::fmt::Debug for ClusterRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("ClusterRouter")
            .field("routes", &names)
            .finish()
    }
}

impl ClusterRouter {
    /// A router without routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves routes whose first segment is `segment` with `handler` (replacing any earlier).
    pub fn route(mut self, segment: &str, handler: Arc<dyn ClusterHandler>) -> Self {
        self.routes.insert(segment.to_owned(), handler);
        self
    }
}

#[async_trait]
impl ClusterHandler for ClusterRouter {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        let (segment, _) = split_route(&request.route);
        match self.routes.get(segment) {
            Some(handler) => handler.handle(request).await,
            None => Err(ClusterError::NotFound(request.route)),
        }
    }

    fn time_limit(&self, route: &str) -> Option<Duration> {
        let (segment, _) = split_route(route);
        self.routes.get(segment)?.time_limit(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(&'static str);

    #[async_trait]
    impl ClusterHandler for Echo {
        async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
            Ok(Bytes::from(format!("{}:{}", self.0, request.route)))
        }
    }

    fn request(route: &str) -> ClusterRequest {
        ClusterRequest {
            route: route.into(),
            body: Bytes::new(),
            peer_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            peer_certificates: Arc::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn router_dispatches_on_the_first_segment() {
        let router = ClusterRouter::new()
            .route("raft", Arc::new(Echo("r")))
            .route("join", Arc::new(Echo("j")));
        assert_eq!(
            router.handle(request("raft/vote")).await.unwrap(),
            "r:raft/vote"
        );
        assert_eq!(router.handle(request("join")).await.unwrap(), "j:join");
        assert!(matches!(
            router.handle(request("forward/x")).await,
            Err(ClusterError::NotFound(r)) if r == "forward/x"
        ));
    }
}
