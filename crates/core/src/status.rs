//! The raw status documents: seal-status, health, leader.

use serde::Serialize;

/// The version string reported everywhere.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `sys/seal-status` (and the answer of `sys/unseal`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SealStatus {
    /// Seal type, e.g. `shamir`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: u32,
    /// Number of shares.
    pub n: u32,
    /// Shares provided so far.
    pub progress: u32,
    /// Nonce of the unseal attempt in progress ("" when none).
    pub nonce: String,
    /// Server version.
    pub version: String,
    /// Build date.
    pub build_date: String,
    /// Whether a seal migration is in progress.
    pub migration: bool,
    /// Cluster name (only when unsealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (only when unsealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Whether recovery keys are in use (auto seals).
    pub recovery_seal: bool,
    /// How the recovery key is split (`shamir`), only when recovery keys are in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_seal_type: Option<String>,
    /// Storage type.
    pub storage_type: String,
    /// `true` when the node was removed from the raft cluster (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_from_cluster: Option<bool>,
}

/// `sys/health` body.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HealthStatus {
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Whether this node is a standby.
    pub standby: bool,
    /// Whether this node is a performance standby (never, for now).
    pub performance_standby: bool,
    /// Replication mode (always `disabled`).
    pub replication_performance_mode: String,
    /// DR replication mode (always `disabled`).
    pub replication_dr_mode: String,
    /// Unix seconds.
    pub server_time_utc: i64,
    /// Server version.
    pub version: String,
    /// Whether this is an enterprise build (never).
    pub enterprise: bool,
    /// Cluster name (only when unsealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (only when unsealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Whether the node was removed from the raft cluster.
    pub removed_from_cluster: bool,
}

/// `sys/leader` body.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LeaderStatus {
    /// Whether HA is enabled (always, on Raft).
    pub ha_enabled: bool,
    /// Whether this node is the active node.
    pub is_self: bool,
    /// When this node became active (RFC3339; zero time otherwise).
    pub active_time: String,
    /// The active node's API address.
    pub leader_address: String,
    /// The active node's cluster address.
    pub leader_cluster_address: String,
    /// Always false.
    pub performance_standby: bool,
    /// Always 0.
    pub performance_standby_last_remote_wal: u64,
    /// Raft committed index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_committed_index: Option<u64>,
    /// Raft applied index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_applied_index: Option<u64>,
}
