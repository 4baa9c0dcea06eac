//! `sys/storage/raft/snapshot-auto/config[/:name]` (`sudo`) and
//! `sys/storage/raft/snapshot-auto/status/:name`: automated snapshot configs, stored in the
//! barrier, and the status of their runs. The scheduler itself runs in the active state
//! ([`Active::autosnap`]).

use serde_json::{Map, Value};
use tresor_autosnap::{AutoSnapError, ConfigStore, api};
use tresor_sdk::{Operation, Response};

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

impl Core {
    /// Installs what automated snapshots (`sys/storage/raft/snapshot-auto`) are taken from.
    /// Once only, before the node becomes active (later, the scheduler starts at the next
    /// activation). From then on the active node runs the snapshot scheduler while it is
    /// active; without a source the configs can still be written and read, but no snapshot
    /// is taken. The source may hold a `Weak<Core>` (to take snapshots through the core).
    pub fn set_snapshot_source(&self, source: std::sync::Arc<dyn tresor_autosnap::SnapshotSource>) {
        if self.snapshot_source.set(source).is_err() {
            tracing::warn!("automated snapshot source installed twice; keeping the first");
        }
    }
}

impl From<AutoSnapError> for CoreError {
    fn from(e: AutoSnapError) -> Self {
        match e {
            AutoSnapError::Config(c) => CoreError::InvalidRequest(c.messages().join("; ")),
            AutoSnapError::Storage(s) => CoreError::Storage(s),
            other => CoreError::Internal(format!("automated snapshots: {other}")),
        }
    }
}

fn store(active: &Active) -> ConfigStore {
    ConfigStore::new(active.barrier.clone())
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `LIST sys/storage/raft/snapshot-auto/config`.
pub(super) async fn list(active: &Active, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::List {
        return super::unsupported();
    }
    Ok(api::list_configs(&store(active)).await?.map(Response::data))
}

/// Read, write and delete of `sys/storage/raft/snapshot-auto/config/:name`.
pub(super) async fn config(
    active: &Active,
    op: Operation,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let sched = active.autosnap.as_ref();
    match op {
        Operation::Read => Ok(api::read_config(&store(active), name)
            .await?
            .map(Response::data)),
        Operation::Create | Operation::Update => {
            let cfg = api::write_config(&store(active), sched, name, data, now()).await?;
            tracing::info!(config = %cfg.name, storage_type = cfg.storage_type.as_str(), "automated snapshot config written");
            Ok(None)
        }
        Operation::Delete => {
            api::delete_config(&store(active), sched, name).await?;
            Ok(None)
        }
        _ => super::unsupported(),
    }
}

/// `GET sys/storage/raft/snapshot-auto/status/:name`.
pub(super) async fn status(
    active: &Active,
    op: Operation,
    name: &str,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    Ok(
        api::read_status(&store(active), active.autosnap.as_ref(), name, now())
            .await?
            .map(Response::data),
    )
}
