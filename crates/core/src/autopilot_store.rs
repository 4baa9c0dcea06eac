//! Where the cluster layer keeps autopilot's replicated settings: inside the barrier, under
//! [`AUTOPILOT_PREFIX`], so they survive a change of leader.

use tresor_storage::Backend as _;

use crate::core::Core;
use crate::error::CoreError;

/// Barrier prefix of autopilot documents (`configuration`, `non-voters`).
pub const AUTOPILOT_PREFIX: &str = "core/raft/autopilot/";

impl Core {
    /// Reads `core/raft/autopilot/<name>` from the unsealed barrier.
    pub async fn autopilot_get(&self, name: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self
            .barrier
            .get(&format!("{AUTOPILOT_PREFIX}{name}"))
            .await?)
    }

    /// Writes `core/raft/autopilot/<name>` into the barrier (active node only).
    pub async fn autopilot_put(&self, name: &str, value: Vec<u8>) -> Result<(), CoreError> {
        self.require_active()?;
        Ok(self
            .barrier
            .put(&format!("{AUTOPILOT_PREFIX}{name}"), value)
            .await?)
    }
}
