//! [`TlsTransport`]: the Raft [`Transport`] over the cluster port.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tresor_raft::{NodeInfo, RaftError, RpcKind, Transport};

use crate::raft_handler::raft_route;
use crate::{ClientOptions, ClusterClient, ClusterError, ClusterIdentity};

/// Carries Raft RPCs to `NodeInfo::cluster_addr` of the target as `POST
/// /cluster/v1/raft/<kind>` over mutual TLS. Any failure (unreachable, refused certificate,
/// timeout, error status) is returned at once as [`RaftError::Rpc`]; openraft retries.
#[derive(Debug, Clone)]
pub struct TlsTransport {
    client: Arc<ClusterClient>,
}

impl TlsTransport {
    /// A transport with its own connection pool.
    pub fn new(identity: &ClusterIdentity, options: ClientOptions) -> Result<Self, ClusterError> {
        Ok(Self::from_client(Arc::new(ClusterClient::new(
            identity, options,
        )?)))
    }

    /// A transport sharing `client`'s connection pool (e.g. with request forwarding).
    pub fn from_client(client: Arc<ClusterClient>) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Arc<ClusterClient> {
        &self.client
    }

    /// Replaces the certificates (rotation); see [`ClusterClient::set_identity`].
    pub fn set_identity(&self, identity: &ClusterIdentity) -> Result<(), ClusterError> {
        self.client.set_identity(identity)
    }
}

#[async_trait]
impl Transport for TlsTransport {
    async fn call(
        &self,
        target: &NodeInfo,
        kind: RpcKind,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, RaftError> {
        let timeout = match kind {
            // Answered after the follower installed the whole snapshot.
            RpcKind::InstallSnapshot => tresor_raft::INSTALL_SNAPSHOT_TIMEOUT,
            _ => self.client.options().request_timeout,
        };
        self.client
            .call_within(
                &target.cluster_addr,
                &raft_route(kind),
                Bytes::from(request),
                timeout,
            )
            .await
            .map(Vec::from)
            .map_err(|e| RaftError::Rpc(format!("{} to {target}: {e}", kind.as_str())))
    }
}
