//! The operations behind `sys/storage/raft/snapshot-auto/config[/:name]` and
//! `sys/storage/raft/snapshot-auto/status/:name`, for the `sys/` backend to call. ACL and
//! `sudo` are the caller's business; these only read and write the configs and tell the
//! running scheduler (if this node runs one).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::config::{self, AutoSnapshotConfig};
use crate::error::AutoSnapError;
use crate::schedule;
use crate::scheduler::AutoSnapshots;
use crate::status::{from_ms, to_ms};
use crate::store::ConfigStore;

/// Creates or updates the config `name` from a request body; the scheduler (if running)
/// picks the change up at once.
pub async fn write_config(
    store: &ConfigStore,
    scheduler: Option<&AutoSnapshots>,
    name: &str,
    data: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<AutoSnapshotConfig, AutoSnapError> {
    config::validate_name(name)?;
    let existing = store.get(name).await?;
    let cfg = config::parse_config(name, existing.as_ref(), data, to_ms(now))?;
    store.put(&cfg).await?;
    if let Some(s) = scheduler {
        s.config_changed(name);
    }
    Ok(cfg)
}

/// The body of a read of config `name` (`None`: no such config).
pub async fn read_config(
    store: &ConfigStore,
    name: &str,
) -> Result<Option<Map<String, Value>>, AutoSnapError> {
    config::validate_name(name)?;
    Ok(store.get(name).await?.map(|c| c.to_response()))
}

/// The body of a LIST (`None` when there is no config, which Vault answers 404).
pub async fn list_configs(
    store: &ConfigStore,
) -> Result<Option<Map<String, Value>>, AutoSnapError> {
    let names = store.list().await?;
    if names.is_empty() {
        return Ok(None);
    }
    let mut m = Map::new();
    m.insert("keys".into(), json!(names));
    Ok(Some(m))
}

/// Deletes config `name` (and its status); its task stops. Deleting a missing config is
/// not an error. The snapshots already written are kept.
pub async fn delete_config(
    store: &ConfigStore,
    scheduler: Option<&AutoSnapshots>,
    name: &str,
) -> Result<(), AutoSnapError> {
    config::validate_name(name)?;
    store.delete(name).await?;
    if let Some(s) = scheduler {
        s.config_deleted(name);
    }
    Ok(())
}

/// The body of a status read of config `name` (`None`: no such config): the running
/// scheduler's view, else the persisted one with the next run computed from it.
pub async fn read_status(
    store: &ConfigStore,
    scheduler: Option<&AutoSnapshots>,
    name: &str,
    now: OffsetDateTime,
) -> Result<Option<Map<String, Value>>, AutoSnapError> {
    config::validate_name(name)?;
    let Some(cfg) = store.get(name).await? else {
        return Ok(None);
    };
    let status = match scheduler.and_then(|s| s.status(name)) {
        Some(s) => s,
        None => {
            let mut s = store.status(name).await?;
            let anchor = from_ms(s.last_attempt_start().unwrap_or(cfg.created_ms));
            s.next_snapshot_start = Some(to_ms(schedule::next_run(anchor, cfg.interval(), now)));
            s
        }
    };
    Ok(Some(status.to_response()))
}
