//! [`RaftHandler`]: serves `raft/<rpc-kind>` routes with [`RaftStore::handle_rpc`].

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tresor_raft::{RaftError, RaftStore, RpcKind};

use crate::protocol::{RAFT_ROUTE, split_route};
use crate::{ClusterError, ClusterHandler, ClusterRequest};

/// The route of Raft RPC `kind`: `raft/<kind>`.
pub fn raft_route(kind: RpcKind) -> String {
    format!("{RAFT_ROUTE}/{}", kind.as_str())
}

/// Parses a `raft/<kind>` route.
pub fn parse_raft_route(route: &str) -> Option<RpcKind> {
    match split_route(route) {
        (RAFT_ROUTE, kind) => RpcKind::parse(kind),
        _ => None,
    }
}

/// Serves Raft RPCs arriving on the cluster port by handing them to the local node.
#[derive(Debug, Clone)]
pub struct RaftHandler {
    store: Arc<RaftStore>,
}

impl RaftHandler {
    /// A handler for `store`.
    pub fn new(store: Arc<RaftStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ClusterHandler for RaftHandler {
    async fn handle(&self, request: ClusterRequest) -> Result<Bytes, ClusterError> {
        let kind = parse_raft_route(&request.route).ok_or(ClusterError::NotFound(request.route))?;
        match self.store.handle_rpc(kind, &request.body).await {
            Ok(reply) => Ok(Bytes::from(reply)),
            Err(RaftError::Stopped(m)) => Err(ClusterError::Unavailable(m)),
            Err(RaftError::Rpc(m)) => Err(ClusterError::BadRequest(m)),
            Err(e) => Err(ClusterError::Handler(e.to_string())),
        }
    }

    fn time_limit(&self, route: &str) -> Option<std::time::Duration> {
        raft_time_limit(route)
    }
}

/// Snapshot installs may run for [`tresor_raft::INSTALL_SNAPSHOT_TIMEOUT`] (their last chunk
/// is answered after the whole install); other Raft RPCs get the server's timeout.
fn raft_time_limit(route: &str) -> Option<std::time::Duration> {
    (parse_raft_route(route) == Some(RpcKind::InstallSnapshot))
        .then_some(tresor_raft::INSTALL_SNAPSHOT_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_snapshot_installs_get_a_longer_time_limit() {
        assert_eq!(
            raft_time_limit(&raft_route(RpcKind::InstallSnapshot)),
            Some(tresor_raft::INSTALL_SNAPSHOT_TIMEOUT)
        );
        for kind in [RpcKind::AppendEntries, RpcKind::Vote] {
            assert_eq!(raft_time_limit(&raft_route(kind)), None);
        }
        assert_eq!(raft_time_limit("raft/unknown"), None);
    }

    #[test]
    fn raft_routes_round_trip() {
        for kind in [
            RpcKind::AppendEntries,
            RpcKind::Vote,
            RpcKind::InstallSnapshot,
        ] {
            assert_eq!(parse_raft_route(&raft_route(kind)), Some(kind));
        }
        assert_eq!(raft_route(RpcKind::Vote), "raft/vote");
        assert_eq!(parse_raft_route("raft/nope"), None);
        assert_eq!(parse_raft_route("join/vote"), None);
        assert_eq!(parse_raft_route("raft"), None);
    }
}
