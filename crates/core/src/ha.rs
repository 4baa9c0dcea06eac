//! How the core learns about the cluster it runs in, and the seams through which it asks the
//! cluster layer to forward requests, admit joining nodes and change the Raft membership.
//!
//! The cluster layer is four small traits, held together in [`HaHandles`]:
//! [`Leadership`] (who leads, confirmations, step-down), [`Forwarding`] (standby → active),
//! [`Membership`] (init, joins on both sides, the Raft configuration, peer removal) and
//! [`AutopilotControl`] (autopilot's configuration and state). Every answer is a typed value
//! whose JSON is what the `sys/storage/raft/*` endpoints return. The methods that need the
//! core's storage take the core as an argument: the cluster layer keeps no reference to it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::Core;
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
    /// The current peers, for the joiner's information.
    pub peers: Vec<Peer>,
}

/// One member of the Raft configuration as a joiner is told about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The member's node id.
    pub node_id: String,
    /// Its cluster address.
    pub cluster_addr: String,
}

/// Who leads the cluster and whether this node does.
#[async_trait::async_trait]
pub trait Leadership: Send + Sync + 'static {
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
    /// Whether this standby answers reads itself ([`Leadership::standby_read_index`]) rather
    /// than forwarding them: Raft storage, and standby reads not switched off. `false` (the
    /// default) forwards every request.
    fn serves_standby_reads(&self) -> bool {
        false
    }
    /// Standby, before it answers a read from its own state: a ReadIndex round with the
    /// active node (which confirms its leadership and answers its applied index), then a wait
    /// until this node has applied that index. Everything acknowledged to any client before
    /// the call is then in local storage, so the read is linearizable. Returns the generation
    /// of the keys given to [`Leadership::watch_keys`] at that point. Fails with
    /// [`CoreError::Standby`] when no active node answers (the request is then forwarded,
    /// or refused as retriable).
    async fn standby_read_index(&self) -> Result<u64, CoreError> {
        Err(CoreError::Standby { leader: None })
    }
    /// Standby: milliseconds since the active node last reached this node, and whether that
    /// is recent enough to call the connection healthy (`sys/health`'s
    /// `ha_connection_healthy`, 474 when not). `None` on the active node or without HA.
    fn active_contact(&self) -> Option<(u64, bool)> {
        None
    }
    /// The storage keys (exact, or prefixes ending in `*`) a standby's in-memory read state is
    /// derived from; changes to them raise the generation [`Leadership::standby_read_index`]
    /// returns.
    fn watch_keys(&self, _patterns: Vec<String>) {}
    /// The Raft facts of the state gauges (`vault.raft.peers`, `vault.raft.leader`), read
    /// without I/O; `None` when storage is not Raft.
    fn raft_summary(&self) -> Option<RaftSummary> {
        None
    }
    /// Sets the storage layer's scrape-time gauges (Raft's `vault.raft_storage.stats.*` and
    /// Tresor's `vault.raft.leader.lastContact_seconds`); run before every scrape. Bounded
    /// cost: no storage I/O beyond file sizes. Nothing without Raft.
    async fn refresh_raft_metrics(&self) {}
}

/// What the metrics report about Raft on this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftSummary {
    /// Servers (voters and non-voters) in the Raft configuration as this node knows it.
    pub peers: usize,
    /// Whether this node is the Raft leader.
    pub leader: bool,
}

/// Hands a standby's client requests to the active node.
#[async_trait::async_trait]
pub trait Forwarding: Send + Sync + 'static {
    /// Sends a client request to the active node and returns its answer.
    async fn forward(&self, _req: ForwardedRequest) -> Result<ForwardedResponse, CoreError> {
        Err(CoreError::Standby { leader: None })
    }
}

/// The Raft membership: forming a cluster at init, joins (both sides), the configuration and
/// peer removal. Every method has a default that refuses, for nodes without clustering.
#[async_trait::async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Called by `sys/init` (under the core's lifecycle lock, after it found the node
    /// uninitialized and not joining): makes this node's storage writable. A Raft node that
    /// was never part of a cluster (for example one waiting in `retry_join` for a leader)
    /// forms a one-member cluster here, as Vault does for the node an operator initializes;
    /// the other nodes then join it.
    async fn prepare_init(&self) -> Result<(), CoreError> {
        Ok(())
    }
    /// Starts joining the cluster at `params.leader_api_addr` (fetches the seal challenge
    /// and hands it to `core`).
    async fn join(&self, _core: &Core, _params: JoinParams) -> Result<(), CoreError> {
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
    /// Leader side: issues a node identity for `node` (with the cluster CA kept in `core`'s
    /// barrier) and adds it to the Raft cluster.
    async fn admit(&self, _core: &Core, _node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        Err(CoreError::invalid(
            "raft storage is not clustered on this node",
        ))
    }
    /// The Raft configuration (`sys/storage/raft/configuration`).
    async fn configuration(&self) -> Result<RaftConfiguration, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Removes `server_id` from the Raft cluster and revokes its certificate in `core`.
    async fn remove_peer(&self, _core: &Core, _server_id: &str) -> Result<(), CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Whether this node was removed from the Raft configuration (it then reports
    /// `removed_from_cluster` and stays out of elections).
    fn removed_from_cluster(&self) -> bool {
        false
    }
}

/// Autopilot's settings and its view of the servers (active node).
#[async_trait::async_trait]
pub trait AutopilotControl: Send + Sync + 'static {
    /// The stored configuration (defaults when none).
    async fn config(&self, _core: &Core) -> Result<AutopilotConfiguration, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// Updates the configuration with the fields present in `body`, the request body as the
    /// operator sent it (durations as Go strings or seconds, booleans as strings too; each
    /// field is checked by the raft layer's rules).
    async fn set_config(
        &self,
        _core: &Core,
        _body: serde_json::Map<String, Value>,
    ) -> Result<(), CoreError> {
        Err(CoreError::UnsupportedPath)
    }
    /// The health of every server as autopilot judges it now.
    async fn state(&self, _core: &Core) -> Result<AutopilotState, CoreError> {
        Err(CoreError::UnsupportedPath)
    }
}

/// The cluster layer as the core holds it: one handle per seam (often the same object).
#[derive(Clone)]
pub struct HaHandles {
    /// Leadership facts and step-down.
    pub leadership: Arc<dyn Leadership>,
    /// Standby → active forwarding.
    pub forwarding: Arc<dyn Forwarding>,
    /// Init, joins, configuration and removal.
    pub membership: Arc<dyn Membership>,
    /// Autopilot configuration and state.
    pub autopilot: Arc<dyn AutopilotControl>,
}

impl std::fmt::Debug for HaHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaHandles").finish_non_exhaustive()
    }
}

impl<T: Leadership + Forwarding + Membership + AutopilotControl> From<Arc<T>> for HaHandles {
    fn from(t: Arc<T>) -> Self {
        HaHandles {
            leadership: t.clone(),
            forwarding: t.clone(),
            membership: t.clone(),
            autopilot: t,
        }
    }
}

/// `sys/storage/raft/configuration`'s `config`: the members of the Raft configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftConfiguration {
    /// The commit index the configuration was read at.
    pub index: u64,
    /// Every member.
    pub servers: Vec<RaftServer>,
}

/// One member of a [`RaftConfiguration`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftServer {
    /// Its node id.
    pub node_id: String,
    /// Its cluster address without scheme (`host:port`).
    pub address: String,
    /// Whether it leads.
    pub leader: bool,
    /// Raft protocol version, always `"3"` (Vault's value).
    pub protocol_version: String,
    /// Whether it votes.
    pub voter: bool,
}

/// `sys/storage/raft/autopilot/configuration` (durations as Go duration strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfiguration {
    /// Remove servers that stopped answering for `dead_server_last_contact_threshold`.
    pub cleanup_dead_servers: bool,
    /// How long without contact before a server counts as dead (`24h0m0s`).
    pub dead_server_last_contact_threshold: String,
    /// How long without contact before a server counts as unhealthy.
    pub last_contact_threshold: String,
    /// How many log entries a server may trail the leader by and stay healthy.
    pub max_trailing_logs: u64,
    /// Cleanup never leaves fewer voters than this.
    pub min_quorum: u64,
    /// How long a non-voter must stay healthy before it is promoted.
    pub server_stabilization_time: String,
}

/// `sys/storage/raft/autopilot/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotState {
    /// Whether every voter is healthy.
    pub healthy: bool,
    /// How many voters may fail without losing quorum.
    pub failure_tolerance: u64,
    /// The leader's node id.
    pub leader: String,
    /// Node ids of the voters.
    pub voters: Vec<String>,
    /// Node ids of the non-voters.
    pub non_voters: Vec<String>,
    /// Every server by node id.
    pub servers: BTreeMap<String, AutopilotServer>,
}

/// One server of an [`AutopilotState`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotServer {
    /// Node id.
    pub id: String,
    /// Name (the node id).
    pub name: String,
    /// Cluster address (`host:port`).
    pub address: String,
    /// `alive` or `left`.
    pub node_status: String,
    /// Time since the leader last heard from it (Go duration; empty when never).
    pub last_contact: String,
    /// Term of its last known log entry.
    pub last_term: u64,
    /// Its last known log index.
    pub last_index: u64,
    /// Whether autopilot judges it healthy.
    pub healthy: bool,
    /// Since when it has been in its current health state (RFC 3339).
    pub stable_since: String,
    /// `leader`, `voter` or `non-voter`.
    pub status: String,
    /// Its software version.
    pub version: String,
    /// `voter` or `non-voter`.
    pub node_type: String,
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
impl Leadership for SingleNode {
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

impl Forwarding for SingleNode {}
impl Membership for SingleNode {}
impl AutopilotControl for SingleNode {}

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
