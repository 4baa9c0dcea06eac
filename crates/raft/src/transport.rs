//! How Raft RPCs travel between nodes.
//!
//! The store talks to peers only through [`Transport`]: an object-safe trait that carries one
//! serialized request to a target node and returns the serialized reply. The wire encoding is
//! JSON of openraft's request types (`AppendEntriesRequest`, `VoteRequest`,
//! `InstallSnapshotRequest`, chunked), and the reply is JSON of
//! `Result<Response, openraft::error::RaftError<..>>` as produced by
//! [`RaftStore::handle_rpc`](crate::RaftStore::handle_rpc) on the receiving node. A transport
//! therefore only moves opaque bytes plus an [`RpcKind`]; it never needs openraft types.

use std::sync::Arc;

use async_trait::async_trait;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError as OrRaftError, RemoteError,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::telemetry::PeerMetrics;
use crate::{NodeId, NodeInfo, RaftError, TypeConfig};

/// Which Raft RPC a payload carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcKind {
    /// Log replication and heartbeats.
    AppendEntries,
    /// Leader election.
    Vote,
    /// One chunk of a snapshot.
    InstallSnapshot,
}

impl RpcKind {
    /// A stable lowercase name (usable as a URL path segment).
    pub fn as_str(self) -> &'static str {
        match self {
            RpcKind::AppendEntries => "append_entries",
            RpcKind::Vote => "vote",
            RpcKind::InstallSnapshot => "install_snapshot",
        }
    }

    /// Parses [`RpcKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "append_entries" => Some(RpcKind::AppendEntries),
            "vote" => Some(RpcKind::Vote),
            "install_snapshot" => Some(RpcKind::InstallSnapshot),
            _ => None,
        }
    }
}

/// Delivers Raft RPCs to other nodes. Implementations: [`InProcessNetwork`](crate::InProcessNetwork)
/// for tests, the mutual-TLS cluster transport in production.
///
/// `call` sends `request` (already serialized) of kind `kind` to `target`, and returns the bytes
/// the target's [`RaftStore::handle_rpc`](crate::RaftStore::handle_rpc) produced. Any failure to
/// deliver (unreachable, timeout, connection reset) is an `Err`; openraft then backs off and
/// retries.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends one RPC to `target` and returns its serialized reply.
    async fn call(
        &self,
        target: &NodeInfo,
        kind: RpcKind,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, RaftError>;
}

/// openraft's network factory over a [`Transport`].
pub(crate) struct NetworkFactory {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) metrics: tresor_telemetry::Metrics,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
            metrics: PeerMetrics::new(&self.metrics, node),
        }
    }
}

/// openraft's per-peer client over a [`Transport`].
pub(crate) struct PeerClient {
    transport: Arc<dyn Transport>,
    target: NodeId,
    node: NodeInfo,
    metrics: PeerMetrics,
}

impl PeerClient {
    async fn send<Req, Resp, E>(
        &self,
        kind: RpcKind,
        req: &Req,
    ) -> Result<Resp, RPCError<NodeId, NodeInfo, OrRaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = self
            .transport
            .call(&self.node, kind, body)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let decoded: Result<Resp, OrRaftError<NodeId, E>> =
            serde_json::from_slice(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decoded.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeInfo, OrRaftError<NodeId>>>
    {
        let start = std::time::Instant::now();
        let entries = rpc.entries.len();
        let result = self.send(RpcKind::AppendEntries, &rpc).await;
        self.metrics.append_entries(entries, start);
        result
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeInfo, OrRaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(RpcKind::InstallSnapshot, &rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeInfo, OrRaftError<NodeId>>> {
        self.send(RpcKind::Vote, &rpc).await
    }
}

/// Decodes an incoming RPC, runs it on `raft` and encodes the result for the caller.
pub(crate) async fn dispatch(
    raft: &openraft::Raft<TypeConfig>,
    kind: RpcKind,
    request: &[u8],
) -> Result<Vec<u8>, RaftError> {
    fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, RaftError> {
        serde_json::from_slice(b).map_err(|e| RaftError::Rpc(format!("bad request: {e}")))
    }
    fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftError> {
        serde_json::to_vec(v).map_err(|e| RaftError::Rpc(format!("encode reply: {e}")))
    }
    match kind {
        RpcKind::AppendEntries => {
            let req: AppendEntriesRequest<TypeConfig> = decode(request)?;
            encode(&raft.append_entries(req).await)
        }
        RpcKind::Vote => {
            let req: VoteRequest<NodeId> = decode(request)?;
            encode(&raft.vote(req).await)
        }
        RpcKind::InstallSnapshot => {
            let req: InstallSnapshotRequest<TypeConfig> = decode(request)?;
            encode(&raft.install_snapshot(req).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_kind_names_round_trip() {
        for k in [
            RpcKind::AppendEntries,
            RpcKind::Vote,
            RpcKind::InstallSnapshot,
        ] {
            assert_eq!(RpcKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(RpcKind::parse("nope"), None);
    }
}
