//! How the core learns about the cluster it runs in, and the seam through which it asks the
//! cluster layer to forward requests, admit joining nodes and change the Raft membership.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::CoreError;

/// The active node as the cluster layer knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Its node id.
    pub node_id: String,
    /// Its API address (`https://host:8200`).
    pub api_addr: String,
    /// Its cluster address (`https://host:8201`).
    pub cluster_addr: String,
}

/// A client request a standby hands to the active node over the cluster port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedRequest {
    /// HTTP method (`GET`, `PUT`, `LIST`, ...).
    pub method: String,
    /// Path and query as received, e.g. `/v1/secret/data/a?version=2`.
    pub path_and_query: String,
    /// The headers that matter to the active node (token, wrapping, content type).
    pub headers: Vec<(String, String)>,
    /// The request body, base64 on the wire.
    #[serde(with = "b64")]
    pub body: Vec<u8>,
    /// The client's address as the standby saw it (`ip:port`), for audit entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// The forwarding standby's address, for audit entries (`forwarded_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<String>,
}

/// The active node's answer to a [`ForwardedRequest`], returned to the client unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the answer, if any.
    pub content_type: Option<String>,
    /// The answer body, base64 on the wire.
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

/// Parameters of `sys/storage/raft/join` (and of one `retry_join` block).
#[derive(Clone, Default, Deserialize)]
pub struct JoinParams {
    /// API address of a cluster member, e.g. `https://10.0.0.1:8200`.
    #[serde(default)]
    pub leader_api_addr: String,
    /// PEM CA certificate to verify the leader's API certificate.
    #[serde(default)]
    pub leader_ca_cert: Option<String>,
    /// PEM client certificate for the leader's API listener.
    #[serde(default)]
    pub leader_client_cert: Option<String>,
    /// PEM client key for the leader's API listener.
    #[serde(default)]
    pub leader_client_key: Option<String>,
    /// TLS server name expected from the leader.
    #[serde(default)]
    pub leader_tls_servername: Option<String>,
    /// Keep retrying in the background until the join succeeds.
    #[serde(default)]
    pub retry: bool,
    /// Join as a non-voter.
    #[serde(default)]
    pub non_voter: bool,
}

impl std::fmt::Debug for JoinParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinParams")
            .field("leader_api_addr", &self.leader_api_addr)
            .field("leader_tls_servername", &self.leader_tls_servername)
            .field("retry", &self.retry)
            .field("non_voter", &self.non_voter)
            .finish_non_exhaustive()
    }
}

/// A joining node that proved it holds the cluster's seal, as the active node admits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinAdmission {
    /// The joiner's node id.
    pub server_id: String,
    /// Its cluster address (`https://host:port`).
    pub cluster_addr: String,
    /// Its API address.
    pub api_addr: String,
    /// Whether it stays a non-voter.
    pub non_voter: bool,
}

/// What the cluster layer hands back for an admitted node.
#[derive(Debug)]
pub struct AdmittedNode {
    /// The node's cluster identity (serialized, contains its private key): the core encrypts
    /// it with the root key before it leaves this node.
    pub identity: Zeroizing<Vec<u8>>,
    /// The current peers (`node_id`, `cluster_addr`), for the joiner's information.
    pub peers: Value,
}

/// Cluster facts the core needs for health, leader and request handling, and the cluster
/// operations it drives. Every method but the first three has a default that refuses, so a
/// node without clustering (tests, [`SingleNode`]) only implements those.
#[async_trait::async_trait]
pub trait HaStatus: Send + Sync + 'static {
    /// Whether this node is the active (Raft leader) node.
    fn is_active(&self) -> bool;
    /// The active node, if one is known.
    fn leader(&self) -> Option<LeaderInfo>;
    /// Raft (committed, applied) indexes, when storage is Raft.
    async fn raft_indexes(&self) -> Option<(u64, u64)>;
    /// Active node, before it answers a request from its own state: confirms that it still
    /// leads (a quorum acknowledged it after the request arrived), so a deposed leader that
    /// has not noticed yet never serves a stale answer. Nodes without peers need not check.
    async fn confirm_leadership(&self) -> Result<(), CoreError> {
        Ok(())
    }
    /// Asks this node to give up leadership (no-op when it cannot).
    fn step_down(&self) {}
    /// Sends a client request to the active node and returns its answer.
    async fn forward(&self, _req: ForwardedRequest) -> Result<ForwardedResponse, CoreError> {
        Err(CoreError::Standby { leader: None })
    }
    /// Called by `sys/init` (under the core's lifecycle lock, after it found the node
    /// uninitialized and not joining): makes this node's storage writable. A Raft node that
    /// was never part of a cluster (for example one waiting in `retry_join` for a leader)
    /// forms a one-member cluster here, as Vault does for the node an operator initializes;
    /// the other nodes then join it.
    async fn prepare_init(&self) -> Result<(), CoreError> {
        Ok(())
    }
    /// Starts joining the cluster at `params.leader_api_addr` (fetches the seal challenge).
    async fn join(&self, _params: JoinParams) -> Result<(), CoreError> {
        Err(CoreError::invalid(
            "raft storage is not clustered on this node",
        ))
    }
    /// Joiner side: sends the challenge answer to the leader it got the challenge from and
    /// returns the sealed node identity it answered with.
    async fn complete_join(&self, _answer: String) -> Result<String, CoreError> {
        Err(CoreError::invalid("no join in progress"))
    }
    /// Joiner side: installs the node identity obtained by [`complete_join`](Self::complete_join).
    async fn install_joined_identity(
        &self,
        _identity: Zeroizing<Vec<u8>>,
    ) -> Result<(), CoreError> {
        Err(CoreError::invalid("no join in progress"))
    }
    /// Leader side: issues a node identity for `node` and adds it to the Raft cluster.
    async fn admit(&self, _node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        Err(CoreError::invalid(
            "raft storage is not clustered on this node",
        ))
    }
    /// The `sys/storage/raft/configuration` document (`{"config": {...}}`).
    async fn raft_configuration(&self) -> Result<Value, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Removes `server_id` from the Raft cluster.
    async fn remove_peer(&self, _server_id: &str) -> Result<(), CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Whether this node was removed from the Raft configuration (it then reports
    /// `removed_from_cluster` and stays out of elections).
    fn removed_from_cluster(&self) -> bool {
        false
    }
    /// The `sys/storage/raft/autopilot/configuration` document (active node).
    async fn autopilot_configuration(&self) -> Result<Value, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Updates the autopilot configuration with the fields present in `body` (active node).
    async fn set_autopilot_configuration(
        &self,
        _body: serde_json::Map<String, Value>,
    ) -> Result<(), CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// The `sys/storage/raft/autopilot/state` document (active node).
    async fn autopilot_state(&self) -> Result<Value, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
}

/// A node that is always active (tests, and storage without HA).
#[derive(Debug, Default, Clone)]
pub struct SingleNode {
    /// Reported as the leader's API address.
    pub api_addr: String,
    /// Reported as the leader's cluster address.
    pub cluster_addr: String,
}

#[async_trait::async_trait]
impl HaStatus for SingleNode {
    fn is_active(&self) -> bool {
        true
    }
    fn leader(&self) -> Option<LeaderInfo> {
        Some(LeaderInfo {
            node_id: "self".into(),
            api_addr: self.api_addr.clone(),
            cluster_addr: self.cluster_addr.clone(),
        })
    }
    async fn raft_indexes(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Base64 (standard, padded) for byte fields.
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_messages_round_trip_with_binary_bodies() {
        let req = ForwardedRequest {
            method: "PUT".into(),
            path_and_query: "/v1/secret/data/a?x=1".into(),
            headers: vec![("x-vault-token".into(), "t".into())],
            body: vec![0, 255, 10, 13],
            remote_addr: Some("192.0.2.1:4000".into()),
            forwarded_from: None,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains("\"AP8KDQ==\""), "{text}");
        assert_eq!(
            serde_json::from_str::<ForwardedRequest>(&text).unwrap(),
            req
        );
        let resp = ForwardedResponse {
            status: 204,
            content_type: None,
            body: Vec::new(),
        };
        let text = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            serde_json::from_str::<ForwardedResponse>(&text).unwrap(),
            resp
        );
    }
}
