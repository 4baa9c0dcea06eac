//! How the core learns about the cluster it runs in.

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

/// Cluster facts the core needs for health, leader and request handling.
#[async_trait::async_trait]
pub trait HaStatus: Send + Sync + 'static {
    /// Whether this node is the active (Raft leader) node.
    fn is_active(&self) -> bool;
    /// The active node, if one is known.
    fn leader(&self) -> Option<LeaderInfo>;
    /// Raft (committed, applied) indexes, when storage is Raft.
    async fn raft_indexes(&self) -> Option<(u64, u64)>;
    /// Asks this node to give up leadership (no-op when it cannot).
    fn step_down(&self) {}
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
