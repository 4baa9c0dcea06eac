//! Reads answered by a standby itself.
//!
//! A standby holds the whole replicated storage, so it can answer a read without the active
//! node, provided it answers from a state that includes every write acknowledged before the
//! read arrived. The cluster layer provides that through
//! [`Leadership::standby_read_index`](crate::Leadership::standby_read_index) (a ReadIndex round
//! with the active node, then a wait for the local apply). The core adds the in-memory state a
//! request needs (mount tables, parsed policies, audit devices): a read-only [`Active`] built
//! from local storage and rebuilt whenever one of the keys it derives from ([`WATCHED`])
//! changed, which the generation returned with the read index tells.
//!
//! Only reads and lists, without response wrapping, of paths a backend declares
//! [`standby_readable`](tresor_sdk::LogicalBackend::standby_readable) (and a short list of
//! `sys/` reads) are answered here. Anything else, and any request whose handling tries to
//! write (a token with limited uses, an expired token to revoke), fails with
//! [`CoreError::Standby`], which the http layer turns into forwarding to the active node.

use std::sync::Arc;

use async_trait::async_trait;
use tresor_storage::{Backend, Op, StorageError};

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;
use crate::pipeline::Method;

/// The storage keys a standby's read state is derived from: the mount tables, the audit
/// table and audited headers, the keyring (batch-token keys derive from it) and the policies.
pub(crate) const WATCHED: &[&str] = &[
    crate::active::MOUNTS_PATH,
    crate::active::AUTH_PATH,
    crate::audit::table::AUDIT_TABLE_PATH,
    crate::audit::table::AUDITED_HEADERS_PATH,
    tresor_barrier::KEYRING_PATH,
    "sys/policy/*",
];

/// The `sys/` paths (relative to `sys/`, `*` suffix glob) a standby reads itself: policies,
/// the mount tables and the UI's mount lookup (which every `kv` CLI command starts with).
const SYS_READS: &[&str] = &[
    "policy",
    "policy/*",
    "policies/acl",
    "policies/acl/*",
    "mounts",
    "auth",
    "internal/ui/mounts",
    "internal/ui/mounts/*",
];

/// Whether a standby answers `method` on `sys/<rel>` itself.
pub(crate) fn sys_readable(rel: &str) -> bool {
    SYS_READS
        .iter()
        .any(|p| crate::pipeline::matches_pattern(p, rel))
}

/// Whether a request may be answered by a standby at all: a read or a list, not wrapped.
pub(crate) fn eligible(method: Method, wrap_ttl: Option<u64>) -> bool {
    matches!(method, Method::Get | Method::List) && wrap_ttl.is_none_or(|t| t == 0)
}

/// A standby's read state and the generation of [`WATCHED`] keys it was built at.
pub(crate) struct StandbyState {
    pub(crate) generation: u64,
    pub(crate) active: Arc<Active>,
}

/// Storage that reads through and refuses every write as [`StorageError::NotLeader`].
pub(crate) struct ReadOnly(pub(crate) Arc<tresor_barrier::Barrier>);

#[async_trait]
impl Backend for ReadOnly {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.list(prefix).await
    }

    async fn apply(&self, _ops: Vec<Op>) -> Result<(), StorageError> {
        Err(StorageError::NotLeader { leader: None })
    }
}

impl Core {
    /// The state a standby answers `method` from, current as of a read index taken now; or
    /// [`CoreError::Standby`] when this request must go to the active node.
    pub(crate) async fn standby_read_state(
        &self,
        method: Method,
        wrap_ttl: Option<u64>,
    ) -> Result<Arc<Active>, CoreError> {
        if !eligible(method, wrap_ttl) || !self.ha.leadership.serves_standby_reads() {
            return Err(self.standby_error());
        }
        let generation = self.ha.leadership.standby_read_index().await?;
        if let Some(active) = self.current_standby_state(generation) {
            return Ok(active);
        }
        let _guard = self.lifecycle.lock().await;
        if let Some(active) = self.current_standby_state(generation) {
            return Ok(active);
        }
        if self.is_sealed() {
            return Err(CoreError::Sealed);
        }
        if self.has_active_state() {
            // Became active meanwhile: this request is answered as a forwarded one would be.
            return Err(self.standby_error());
        }
        // A key rotation since the last build: batch tokens of the new term need its key.
        self.barrier
            .reload_keyring()
            .await
            .map_err(CoreError::barrier("reloading keyring"))?;
        let active = match Active::load_standby(self).await {
            Ok(active) => active,
            Err(e) => {
                tracing::warn!(error = %e, "standby cannot build its read state; forwarding reads");
                return Err(self.standby_error());
            }
        };
        *self
            .standby
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = Some(StandbyState {
            generation,
            active: active.clone(),
        });
        tracing::debug!(generation, "standby read state built");
        Ok(active)
    }

    /// The standby read state if it was built at `generation` or later.
    fn current_standby_state(&self, generation: u64) -> Option<Arc<Active>> {
        let slot = self.standby.read().ok()?;
        slot.as_ref()
            .filter(|s| s.generation >= generation)
            .map(|s| s.active.clone())
    }

    /// Drops the standby read state (this node became active, or sealed).
    pub(crate) fn drop_standby_state(&self) {
        if let Ok(mut slot) = self.standby.write() {
            *slot = None;
        }
    }

    /// The error that sends a request to the active node.
    pub(crate) fn standby_error(&self) -> CoreError {
        CoreError::Standby {
            leader: self.ha.leadership.leader().map(|l| l.api_addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unwrapped_reads_and_lists_are_eligible() {
        assert!(eligible(Method::Get, None));
        assert!(eligible(Method::List, None));
        assert!(eligible(Method::Get, Some(0)));
        assert!(!eligible(Method::Get, Some(60)));
        for m in [Method::Write, Method::Patch, Method::Delete] {
            assert!(!eligible(m, None), "{m:?}");
        }
    }

    #[test]
    fn sys_reads_served_by_a_standby() {
        for rel in [
            "policy",
            "policy/default",
            "policies/acl/x",
            "mounts",
            "auth",
            "internal/ui/mounts/secret/a",
        ] {
            assert!(sys_readable(rel), "{rel}");
        }
        for rel in [
            "mounts/secret/tune",
            "leases/lookup",
            "storage/raft/configuration",
            "audit",
            "key-status",
            "policyx",
        ] {
            assert!(!sys_readable(rel), "{rel}");
        }
    }
}
