//! Automatic rotation of the barrier's data key by use (`sys/rotate/config`): after
//! `max_operations` encryptions under one term, or once the term is older than `interval`,
//! the active node adds a new term. The encryption count is kept by the barrier and
//! persisted here in batches ([`FLUSH_BATCH`] encryptions or [`FLUSH_INTERVAL`], whichever
//! comes first, plus after every rotation and before sealing).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::{duration, fields};
use tresor_storage::Backend;

use crate::core::{Core, lock};
use crate::error::CoreError;

/// Where the rotation configuration is stored (through the barrier, so replicated).
pub const ROTATION_CONFIG_PATH: &str = "core/key-rotation-config";
/// Smallest accepted `max_operations`.
pub const MIN_MAX_OPERATIONS: u64 = 1_000_000;
/// Default and largest `max_operations` (just under 2^32, as NIST SP 800-38D advises for
/// random 96-bit GCM nonces).
pub const MAX_MAX_OPERATIONS: u64 = 3_865_470_566;
/// Smallest non-zero `interval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Unpersisted encryptions that trigger a write of the count.
pub const FLUSH_BATCH: u64 = 10_000;
/// Longest time unpersisted encryptions wait for a write of the count.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The automatic rotation settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationConfig {
    /// Whether automatic rotations happen (counting goes on regardless).
    pub enabled: bool,
    /// Encryptions under one term after which it is rotated.
    pub max_operations: u64,
    /// Age of the active term (seconds) at which it is rotated; 0 = never by age.
    pub interval_secs: u64,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            enabled: true,
            max_operations: MAX_MAX_OPERATIONS,
            interval_secs: 0,
        }
    }
}

/// Why a term is due for rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// It encrypted `max_operations` values.
    Operations,
    /// It is older than `interval`.
    Interval,
}

impl RotationConfig {
    /// This configuration with the fields present in `data` changed, validated as Vault does.
    pub fn updated(&self, data: &Map<String, Value>) -> Result<Self, CoreError> {
        let mut next = self.clone();
        if let Some(v) = fields::get_i64(data, "max_operations")? {
            if v < 0 {
                return Err(out_of_range());
            }
            next.max_operations = v as u64;
        }
        if let Some(v) = fields::get_duration(data, "interval")? {
            next.interval_secs = v;
        } else if matches!(data.get("interval"), Some(Value::String(s)) if s.is_empty()) {
            next.interval_secs = 0;
        }
        if let Some(v) = fields::get_bool(data, "enabled")? {
            next.enabled = v;
        }
        if next.interval_secs != 0 && next.interval_secs < MIN_INTERVAL.as_secs() {
            return Err(CoreError::invalid(format!(
                "interval must be greater or equal to {}",
                duration::format_secs(MIN_INTERVAL.as_secs())
            )));
        }
        if !(MIN_MAX_OPERATIONS..=MAX_MAX_OPERATIONS).contains(&next.max_operations) {
            return Err(out_of_range());
        }
        Ok(next)
    }

    /// The `sys/rotate/config` read answer.
    pub fn to_json(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "max_operations": self.max_operations,
            "interval": duration::format_secs(self.interval_secs),
        })
    }

    /// Whether a term that made `encryptions` and is `age` old is due for rotation, with
    /// `max_operations` as the limit (the configured one, or a lower one in tests).
    pub fn due(
        &self,
        max_operations: u64,
        encryptions: u64,
        age: Duration,
    ) -> Option<RotationReason> {
        if !self.enabled {
            return None;
        }
        if encryptions >= max_operations {
            return Some(RotationReason::Operations);
        }
        if self.interval_secs != 0 && age >= Duration::from_secs(self.interval_secs) {
            return Some(RotationReason::Interval);
        }
        None
    }
}

fn out_of_range() -> CoreError {
    CoreError::invalid(format!(
        "max_operations must be in the range [{MIN_MAX_OPERATIONS},{MAX_MAX_OPERATIONS}]"
    ))
}

/// The active node's bookkeeping of count writes.
#[derive(Debug, Default)]
pub(crate) struct KeyRotationState {
    last_flush: Option<Instant>,
    /// Replaces `max_operations` (tests: the configured minimum is a million).
    pub(crate) max_operations_override: Option<u64>,
}

impl Core {
    /// The stored rotation configuration (defaults when none was written).
    pub async fn rotation_config(&self) -> Result<RotationConfig, CoreError> {
        match self.barrier.get(ROTATION_CONFIG_PATH).await? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(RotationConfig::default()),
        }
    }

    /// Validates and stores a change of the rotation configuration.
    pub(crate) async fn update_rotation_config(
        &self,
        data: &Map<String, Value>,
    ) -> Result<(), CoreError> {
        let next = self.rotation_config().await?.updated(data)?;
        self.barrier
            .put(ROTATION_CONFIG_PATH, serde_json::to_vec(&next)?)
            .await?;
        Ok(())
    }

    /// Adds a new key term (`sys/rotate`, or automatically) and records its fresh count.
    pub(crate) async fn rotate_keyring(&self) -> Result<u32, CoreError> {
        // The old term's final count, for the record; then the new term starts at zero.
        if let Err(e) = self.barrier.persist_key_usage().await {
            tracing::warn!(error = %e, "could not persist the encryption count before rotating");
        }
        let term = self
            .barrier
            .rotate()
            .await
            .map_err(CoreError::barrier("failed to rotate the keyring"))?;
        self.persist_key_usage().await;
        Ok(term)
    }

    /// Writes the encryption count now (errors are logged: the next write catches up). The
    /// server calls it on the active node at shutdown.
    pub async fn persist_key_usage(&self) {
        match self.barrier.persist_key_usage().await {
            Ok(_) => lock(&self.key_rotation).last_flush = Some(Instant::now()),
            Err(e) => tracing::warn!(error = %e, "could not persist the encryption count"),
        }
    }

    /// Active node, called periodically: persists the encryption count when a batch is
    /// full or [`FLUSH_INTERVAL`] has passed, and rotates the key term when the rotation
    /// configuration says it is due. Returns the new term after a rotation. Does nothing on
    /// a standby or a sealed node.
    pub async fn key_rotation_tick(&self) -> Result<Option<u32>, CoreError> {
        if !self.is_active_node() {
            return Ok(None);
        }
        let unpersisted = self
            .barrier
            .unpersisted_encryptions()
            .map_err(|_| CoreError::Sealed)?;
        let (flush_due, override_ops) = {
            let st = lock(&self.key_rotation);
            let stale = st.last_flush.is_none_or(|t| t.elapsed() >= FLUSH_INTERVAL);
            (
                unpersisted >= FLUSH_BATCH || (unpersisted > 0 && stale),
                st.max_operations_override,
            )
        };
        if flush_due {
            self.persist_key_usage().await;
        }
        let config = self.rotation_config().await?;
        let status = self.barrier.key_status().map_err(|_| CoreError::Sealed)?;
        let age = self
            .barrier
            .active_term_age()
            .map_err(|_| CoreError::Sealed)?;
        let limit = override_ops.unwrap_or(config.max_operations);
        let Some(reason) = config.due(limit, status.encryptions, age) else {
            return Ok(None);
        };
        let term = self.rotate_keyring().await?;
        tracing::info!(
            term,
            ?reason,
            encryptions = status.encryptions,
            "keyring rotated automatically"
        );
        Ok(Some(term))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{CoreOptions, InitRequest, SingleNode};
    use tresor_storage::InMemBackend;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_and_validation_follow_vault() {
        let d = RotationConfig::default();
        assert_eq!(
            d.to_json(),
            json!({"enabled": true, "max_operations": 3_865_470_566u64, "interval": "0s"})
        );
        let c = d
            .updated(&map(
                json!({"max_operations": 2_000_000_000u64, "interval": "4320h"}),
            ))
            .unwrap();
        assert_eq!(
            (c.max_operations, c.interval_secs, c.enabled),
            (2_000_000_000, 4320 * 3600, true)
        );
        assert_eq!(c.to_json()["interval"], "4320h0m0s");
        let off = c
            .updated(&map(json!({"enabled": false, "interval": ""})))
            .unwrap();
        assert_eq!((off.enabled, off.interval_secs), (false, 0));
        assert_eq!(
            d.updated(&map(json!({"interval": 0})))
                .unwrap()
                .interval_secs,
            0
        );
        assert!(d.updated(&map(json!({"interval": "24h"}))).is_ok());
        assert!(
            d.updated(&map(json!({"max_operations": 1_000_000})))
                .is_ok()
        );

        let msg = |data: Value| match d.updated(&map(data)) {
            Err(CoreError::InvalidRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        };
        assert_eq!(
            msg(json!({"interval": "23h"})),
            "interval must be greater or equal to 24h0m0s"
        );
        let range = "max_operations must be in the range [1000000,3865470566]";
        assert_eq!(msg(json!({"max_operations": 999_999})), range);
        assert_eq!(msg(json!({"max_operations": 3_865_470_567u64})), range);
        assert_eq!(msg(json!({"max_operations": -1})), range);
        assert!(d.updated(&map(json!({"enabled": "maybe"}))).is_err());
        assert!(d.updated(&map(json!({"interval": "soon"}))).is_err());
    }

    #[test]
    fn rotation_is_due_by_operations_or_age_unless_disabled() {
        let c = RotationConfig {
            interval_secs: 86_400,
            ..RotationConfig::default()
        };
        let day = Duration::from_secs(86_400);
        assert_eq!(c.due(10, 9, Duration::ZERO), None);
        assert_eq!(
            c.due(10, 10, Duration::ZERO),
            Some(RotationReason::Operations)
        );
        assert_eq!(c.due(10, 0, day), Some(RotationReason::Interval));
        assert_eq!(c.due(10, 0, day - Duration::from_secs(1)), None);
        let never_by_age = RotationConfig::default();
        assert_eq!(never_by_age.due(10, 0, day * 10_000), None);
        let disabled = RotationConfig {
            enabled: false,
            ..c
        };
        assert_eq!(disabled.due(10, 1_000, day * 2), None);
    }

    async fn active_core(physical: Arc<InMemBackend>) -> (Arc<Core>, String) {
        let core = Core::new(
            physical,
            CoreOptions::default(),
            Arc::new(SingleNode::default()),
        );
        let init = core.init(InitRequest::shamir(1, 1)).await.unwrap();
        core.unseal(Some(&init.keys[0]), false).await.unwrap();
        assert!(core.is_active_node());
        (core, init.keys[0].clone())
    }

    async fn write_n(core: &Core, n: usize) {
        for i in 0..n {
            core.barrier
                .put(&format!("test/v{i}"), b"x".to_vec())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn the_term_advances_when_the_count_reaches_the_limit() {
        let (core, _) = active_core(Arc::new(InMemBackend::new())).await;
        let start = core.barrier.key_status().unwrap();
        lock(&core.key_rotation).max_operations_override = Some(start.encryptions + 50);
        write_n(&core, 10).await;
        assert_eq!(core.key_rotation_tick().await.unwrap(), None);
        write_n(&core, 50).await;
        let term = core.key_rotation_tick().await.unwrap();
        assert_eq!(term, Some(start.term + 1));
        let now = core.barrier.key_status().unwrap();
        assert_eq!(now.term, start.term + 1);
        assert!(now.encryptions < 10, "fresh term: {}", now.encryptions);

        // Disabled: counting goes on, no rotation.
        core.update_rotation_config(&map(json!({"enabled": false})))
            .await
            .unwrap();
        write_n(&core, 60).await;
        assert_eq!(core.key_rotation_tick().await.unwrap(), None);
        assert_eq!(core.barrier.key_status().unwrap().term, start.term + 1);
        assert!(!core.rotation_config().await.unwrap().enabled);
    }

    #[tokio::test]
    async fn the_count_survives_a_seal_and_a_restart() {
        let physical = Arc::new(InMemBackend::new());
        let (core, key) = active_core(physical.clone()).await;
        write_n(&core, 120).await;
        // Flushed on seal.
        let before = core.barrier.key_status().unwrap().encryptions;
        assert!(before >= 120);
        core.seal().await.unwrap();
        core.unseal(Some(&key), false).await.unwrap();
        let after_reseal = core.barrier.key_status().unwrap().encryptions;
        assert!(after_reseal > before, "{after_reseal} <= {before}");

        // A crash after a periodic write loses at most the unpersisted tail: a batch.
        write_n(&core, 30).await;
        core.persist_key_usage().await;
        let persisted = core.barrier.key_status().unwrap().encryptions;
        write_n(&core, 5).await;
        drop(core);
        let reopened = Core::new(
            physical,
            CoreOptions::default(),
            Arc::new(SingleNode::default()),
        );
        reopened.unseal(Some(&key), false).await.unwrap();
        let count = reopened.barrier.key_status().unwrap().encryptions;
        assert!(count >= persisted, "{count} < {persisted}");
    }
}
