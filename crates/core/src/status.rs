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
    /// Whether this node is a standby that answers reads itself.
    pub performance_standby: bool,
    /// Standby: whether the active node reached it recently (absent on the active node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha_connection_healthy: Option<bool>,
    /// Standby: milliseconds since the active node last reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_request_forwarding_heartbeat_ms: Option<u64>,
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
    /// Whether this node is a standby that answers reads itself.
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

/// One seal of the node's auto-seal set, as `sys/seal-status` lists it under `seals`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SealHealth {
    /// Seal type, e.g. `awskms`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The seal's name: its type and its position in the configuration (`awskms-1`).
    pub name: String,
    /// Result of the last health check of this seal (a wrap and unwrap of a test value);
    /// `None` (JSON `null`) until the first check.
    pub healthy: Option<bool>,
}

/// `sys/seal-status` with the per-seal health of an auto-seal node (extra fields are ignored
/// by Vault clients).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SealStatusReport {
    /// The Vault-compatible document.
    #[serde(flatten)]
    pub status: SealStatus,
    /// The configured auto seals in priority order (absent on Shamir nodes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seals: Vec<SealHealth>,
}

/// `sys/health` with the seal-set hint of an auto-seal node.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HealthReport {
    /// The Vault-compatible document.
    #[serde(flatten)]
    pub status: HealthStatus,
    /// `true` when the last health check of at least one configured auto seal failed
    /// (absent on Shamir nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_degraded: Option<bool>,
}

/// Whether a seal set with these results is degraded: some seal failed its last check.
pub(crate) fn is_degraded(seals: &[SealHealth]) -> bool {
    seals.iter().any(|s| s.healthy == Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(healthy: Option<bool>) -> SealHealth {
        SealHealth {
            kind: "awskms".into(),
            name: "awskms-1".into(),
            healthy,
        }
    }

    #[test]
    fn degraded_only_when_a_check_failed() {
        assert!(!is_degraded(&[]));
        assert!(!is_degraded(&[health(None), health(Some(true))]));
        assert!(is_degraded(&[health(Some(true)), health(Some(false))]));
    }

    #[test]
    fn extra_fields_flatten_into_the_vault_documents() {
        let status = HealthStatus {
            initialized: true,
            sealed: false,
            standby: false,
            performance_standby: false,
            ha_connection_healthy: None,
            last_request_forwarding_heartbeat_ms: None,
            replication_performance_mode: "disabled".into(),
            replication_dr_mode: "disabled".into(),
            server_time_utc: 1,
            version: VERSION.into(),
            enterprise: false,
            cluster_name: None,
            cluster_id: None,
            removed_from_cluster: false,
        };
        let shamir = serde_json::to_value(HealthReport {
            status: status.clone(),
            seal_degraded: None,
        })
        .unwrap_or_default();
        assert_eq!(shamir["initialized"], true);
        assert!(shamir.get("seal_degraded").is_none(), "{shamir}");
        let auto = serde_json::to_value(HealthReport {
            status,
            seal_degraded: Some(true),
        })
        .unwrap_or_default();
        assert_eq!(auto["seal_degraded"], true);
        assert_eq!(auto["standby"], false);
        let unchecked = serde_json::to_value(health(None)).unwrap_or_default();
        assert_eq!(
            unchecked,
            serde_json::json!({"type": "awskms", "name": "awskms-1", "healthy": null})
        );
    }
}
