//! Where configs and their run status live: in the barrier (encrypted, replicated by Raft),
//! so every node sees them and a new active node picks them up.

use std::sync::Arc;

use tresor_storage::{Backend, Op};

use crate::config::AutoSnapshotConfig;
use crate::error::AutoSnapError;
use crate::status::SnapshotStatus;

/// Barrier prefix of the configs (`<prefix><name>`).
pub const CONFIG_PREFIX: &str = "core/raft/snapshot-auto/config/";
/// Barrier prefix of the persisted run status (`<prefix><name>`).
pub const STATUS_PREFIX: &str = "core/raft/snapshot-auto/status/";

/// The configs and status records in one storage (the barrier).
#[derive(Clone)]
pub struct ConfigStore {
    storage: Arc<dyn Backend>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore").finish_non_exhaustive()
    }
}

impl ConfigStore {
    /// The store over `storage` (the unsealed barrier).
    pub fn new(storage: Arc<dyn Backend>) -> ConfigStore {
        ConfigStore { storage }
    }

    /// The config called `name`, if any.
    pub async fn get(&self, name: &str) -> Result<Option<AutoSnapshotConfig>, AutoSnapError> {
        match self.storage.get(&format!("{CONFIG_PREFIX}{name}")).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores `cfg` under its name.
    pub async fn put(&self, cfg: &AutoSnapshotConfig) -> Result<(), AutoSnapError> {
        let bytes = serde_json::to_vec(cfg)?;
        self.storage
            .put(&format!("{CONFIG_PREFIX}{}", cfg.name), bytes)
            .await?;
        Ok(())
    }

    /// Removes the config called `name` and its status (atomically).
    pub async fn delete(&self, name: &str) -> Result<(), AutoSnapError> {
        self.storage
            .apply(vec![
                Op::Delete {
                    key: format!("{CONFIG_PREFIX}{name}"),
                },
                Op::Delete {
                    key: format!("{STATUS_PREFIX}{name}"),
                },
            ])
            .await?;
        Ok(())
    }

    /// The names of every config, sorted.
    pub async fn list(&self) -> Result<Vec<String>, AutoSnapError> {
        let mut names: Vec<String> = self
            .storage
            .list(CONFIG_PREFIX)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The persisted status of `name` (default when none was recorded yet).
    pub async fn status(&self, name: &str) -> Result<SnapshotStatus, AutoSnapError> {
        match self.storage.get(&format!("{STATUS_PREFIX}{name}")).await? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(SnapshotStatus::default()),
        }
    }

    /// Persists the status of `name`.
    pub async fn put_status(
        &self,
        name: &str,
        status: &SnapshotStatus,
    ) -> Result<(), AutoSnapError> {
        let bytes = serde_json::to_vec(status)?;
        self.storage
            .put(&format!("{STATUS_PREFIX}{name}"), bytes)
            .await?;
        Ok(())
    }
}
