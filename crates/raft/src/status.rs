//! Read-only views of the cluster: members and metrics.

use serde::Serialize;

/// One member of the cluster configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// Vault-style string node id.
    pub node_id: String,
    /// Cluster (Raft RPC) address.
    pub cluster_addr: String,
    /// Client API address.
    pub api_addr: String,
    /// Whether the node votes (false: learner / non-voter).
    pub voter: bool,
    /// Whether the node is the current leader as seen from here.
    pub leader: bool,
}

/// Replication progress of one follower, as seen by the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowerStatus {
    /// Vault-style string node id.
    pub node_id: String,
    /// Highest log index known to be replicated to it.
    pub matched_index: Option<u64>,
}

/// A snapshot of this node's Raft state.
///
/// openraft 0.9 does not track a per-follower "last contact" time; the leader's
/// `millis_since_quorum_ack` (time since a quorum last acknowledged it) is reported instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RaftStatus {
    /// This node's string id.
    pub node_id: String,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub state: String,
    /// Current term.
    pub term: u64,
    /// Index of the last entry in the local log.
    pub last_log_index: Option<u64>,
    /// Highest index known to be committed.
    pub commit_index: Option<u64>,
    /// Highest index applied to the state machine.
    pub applied_index: Option<u64>,
    /// Index covered by the current snapshot.
    pub snapshot_index: Option<u64>,
    /// Highest index purged from the log.
    pub purged_index: Option<u64>,
    /// The current leader's string id, if known.
    pub leader: Option<String>,
    /// Leader only: milliseconds since a quorum acknowledged this leader.
    pub millis_since_quorum_ack: Option<u64>,
    /// Leader only: replication progress per follower and learner.
    pub followers: Vec<FollowerStatus>,
}
