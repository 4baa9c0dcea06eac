//! The core's view of the Raft cluster.

use std::sync::Arc;

use tresor_core::{HaStatus, LeaderInfo};
use tresor_raft::RaftStore;

/// Adapts a [`RaftStore`] to the core's [`HaStatus`].
pub(crate) struct RaftHa {
    pub(crate) raft: Arc<RaftStore>,
}

#[async_trait::async_trait]
impl HaStatus for RaftHa {
    fn is_active(&self) -> bool {
        self.raft.is_leader()
    }

    fn leader(&self) -> Option<LeaderInfo> {
        self.raft.leader().map(|(id, node)| LeaderInfo {
            node_id: id,
            api_addr: node.api_addr,
            cluster_addr: node.cluster_addr,
        })
    }

    async fn raft_indexes(&self) -> Option<(u64, u64)> {
        let m = self.raft.metrics().await;
        Some((m.commit_index.unwrap_or(0), m.applied_index.unwrap_or(0)))
    }
}
