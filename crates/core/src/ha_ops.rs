//! The cluster operations the `sys/storage/raft/*` endpoints call, on [`Core`]: each hands
//! the core itself to the cluster layer (which keeps no reference to it).

use serde_json::{Map, Value};

use crate::Core;
use crate::error::CoreError;
use crate::ha::{AutopilotConfiguration, AutopilotState, JoinParams, RaftConfiguration};

impl Core {
    /// `sys/storage/raft/join`: starts joining the cluster at `params.leader_api_addr`.
    pub async fn raft_join(&self, params: JoinParams) -> Result<(), CoreError> {
        self.ha.membership.join(self, params).await
    }

    /// `sys/storage/raft/configuration`.
    pub async fn raft_configuration(&self) -> Result<RaftConfiguration, CoreError> {
        self.ha.membership.configuration().await
    }

    /// `sys/storage/raft/remove-peer`.
    pub async fn raft_remove_peer(&self, server_id: &str) -> Result<(), CoreError> {
        self.ha.membership.remove_peer(self, server_id).await
    }

    /// `sys/storage/raft/autopilot/configuration` (read).
    pub async fn autopilot_configuration(&self) -> Result<AutopilotConfiguration, CoreError> {
        self.ha.autopilot.config(self).await
    }

    /// `sys/storage/raft/autopilot/configuration` (update with the fields of `body`).
    pub async fn set_autopilot_configuration(
        &self,
        body: Map<String, Value>,
    ) -> Result<(), CoreError> {
        self.ha.autopilot.set_config(self, body).await
    }

    /// `sys/storage/raft/autopilot/state`.
    pub async fn autopilot_state(&self) -> Result<AutopilotState, CoreError> {
        self.ha.autopilot.state(self).await
    }
}
