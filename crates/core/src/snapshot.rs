//! Operator snapshots (`sys/storage/raft/snapshot`, `snapshot-force`): the core's part.
//!
//! The storage layer that can snapshot (the Raft store) implements [`SnapshotStore`] and is
//! installed with [`Core::set_snapshot_store`]; without one the endpoints do not exist. The
//! core checks access, seals the archive's checksums with the barrier (so that only a
//! cluster holding the same keyring can open them), checks them on restore unless forced,
//! and afterwards reloads the keyring and the active state from the restored data, or seals
//! the node when the restored keyring does not open with the root key in use.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tresor_policy::Capability;

use crate::Core;
use crate::error::CoreError;

/// The associated data the sealed checksums are bound to.
pub const SEALED_SUMS_NAME: &str = "core/raft-snapshot/SHA256SUMS";
/// The API path of a snapshot (save and restore).
pub const SNAPSHOT_PATH: &str = "sys/storage/raft/snapshot";
/// The API path of a forced restore.
pub const SNAPSHOT_FORCE_PATH: &str = "sys/storage/raft/snapshot-force";

/// Seals the `SHA256SUMS` text of an archive being written.
pub type SealSumsFn = Box<dyn FnOnce(&[u8]) -> Result<Vec<u8>, String> + Send>;
/// Given `SHA256SUMS` and `SHA256SUMS.sealed` of a verified archive, accepts it or says why
/// not.
pub type CheckSumsFn = Box<dyn FnOnce(&[u8], &[u8]) -> Result<(), String> + Send>;

/// Why a snapshot operation of the storage layer failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    /// The archive is damaged or not a snapshot; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The archive was refused (its sealed checksums, or the cluster refused the commit);
    /// nothing changed.
    #[error("{0}")]
    Refused(String),
    /// This node does not lead the cluster.
    #[error("node is not the leader")]
    NotLeader,
    /// The cluster cannot take the restore now (no quorum, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// A storage layer that saves and restores whole snapshots (the Raft store).
#[async_trait::async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Writes a consistent snapshot archive to `out` (a blocking writer, called from a
    /// blocking thread), sealing its checksums with `seal`.
    async fn save(
        &self,
        out: Box<dyn Write + Send>,
        seal: SealSumsFn,
    ) -> Result<(), SnapshotStoreError>;

    /// Verifies the archive spooled at `archive` (its framing and checksums, then `check`)
    /// and replaces the whole store with it on every node, all or nothing.
    async fn restore(&self, archive: &Path, check: CheckSumsFn) -> Result<(), SnapshotStoreError>;

    /// A directory on the data volume where uploads are spooled.
    fn spool_dir(&self) -> PathBuf;
}

impl From<SnapshotStoreError> for CoreError {
    fn from(e: SnapshotStoreError) -> Self {
        match e {
            SnapshotStoreError::Refused(m) => CoreError::InvalidRequest(m),
            SnapshotStoreError::NotLeader => CoreError::Standby { leader: None },
            SnapshotStoreError::Unavailable(m) => {
                CoreError::Storage(tresor_storage::StorageError::Unavailable(m))
            }
            SnapshotStoreError::Invalid(m) | SnapshotStoreError::Io(m) => CoreError::Snapshot(m),
        }
    }
}

/// The message of a restore whose sealed checksums do not open with this cluster's keys.
pub const KEYS_MISMATCH: &str = "the snapshot's sealed checksums cannot be verified with this \
     cluster's keys (it may come from another cluster or be damaged); to restore it anyway, \
     use the sys/storage/raft/snapshot-force endpoint (operator raft snapshot restore -force)";

impl Core {
    /// Installs the storage layer's snapshot support (the Raft store). Once only.
    pub fn set_snapshot_store(&self, store: Arc<dyn SnapshotStore>) {
        if self.snapshots.set(store).is_err() {
            tracing::warn!("snapshot store installed twice; keeping the first");
        }
    }

    /// Whether snapshots are supported (the storage is Raft).
    pub fn has_snapshot_store(&self) -> bool {
        self.snapshots.get().is_some()
    }

    fn snapshot_store(&self) -> Result<Arc<dyn SnapshotStore>, CoreError> {
        self.snapshots
            .get()
            .cloned()
            .ok_or(CoreError::UnsupportedPath)
    }

    /// Checks that `token` may take a snapshot (`read` on the path, as in Vault) or restore one
    /// (`update` and `sudo` on the path).
    pub async fn check_snapshot_access(
        &self,
        token: Option<&str>,
        path: &str,
        restore: bool,
    ) -> Result<(), CoreError> {
        if restore {
            return self.check_sudo(token, path, Capability::Update).await;
        }
        let active = self.active()?;
        let entry = self.authenticate(&active, token).await?;
        let acl = active.policies.acl(&entry.policies).await?;
        if acl.check(path, Capability::Read).allowed {
            Ok(())
        } else {
            Err(CoreError::PermissionDenied)
        }
    }

    /// A directory where an upload may be spooled (on the data volume).
    pub fn snapshot_spool_dir(&self) -> Result<PathBuf, CoreError> {
        Ok(self.snapshot_store()?.spool_dir())
    }

    /// Streams a snapshot archive of the whole store to `out`. Active node only.
    pub async fn snapshot_save(&self, out: Box<dyn Write + Send>) -> Result<(), CoreError> {
        self.require_active()?;
        let store = self.snapshot_store()?;
        let barrier = self.barrier.clone();
        let seal: SealSumsFn = Box::new(move |sums| {
            barrier
                .seal_detached(SEALED_SUMS_NAME, sums)
                .map_err(|e| e.to_string())
        });
        store.save(out, seal).await?;
        Ok(())
    }

    /// Restores the archive spooled at `archive` into the cluster. Unless `force`, its sealed
    /// checksums must open with this cluster's keyring and match. Afterwards the node reloads
    /// its keyring and state from the restored data, or seals itself when the restored
    /// keyring does not open with its root key. Active node only.
    pub async fn snapshot_restore(&self, archive: &Path, force: bool) -> Result<(), CoreError> {
        self.require_active()?;
        let store = self.snapshot_store()?;
        let barrier = self.barrier.clone();
        let check: CheckSumsFn = Box::new(move |sums, sealed| {
            if force {
                return Ok(());
            }
            match barrier.open_detached(SEALED_SUMS_NAME, sealed) {
                Ok(opened) if opened == sums => Ok(()),
                _ => Err(KEYS_MISMATCH.to_owned()),
            }
        });
        // Nothing is written while the data and keyring are replaced: a write encrypted with
        // the keyring in memory would be unreadable under the restored one.
        struct Thaw<'a>(&'a tresor_barrier::Barrier);
        impl Drop for Thaw<'_> {
            fn drop(&mut self) {
                self.0.thaw_writes();
            }
        }
        self.barrier.freeze_writes();
        let _thaw = Thaw(&self.barrier);
        store.restore(archive, check).await?;
        self.after_restore().await;
        Ok(())
    }

    /// Brings this node in line with data that a restore replaced: reloads the keyring (or
    /// seals when the root key in use does not open it), the cluster identity and, on the
    /// active node, mounts, policies and tokens. Standbys call it when their store reports a
    /// restore; the active node calls it at the end of [`Core::snapshot_restore`].
    pub async fn after_restore(&self) {
        let _guard = self.lifecycle.lock().await;
        self.reload_after_restore().await;
    }

    /// [`Core::after_restore`] for a restore this node's store reports having applied, unless
    /// the node is the active one by the time it holds the lifecycle lock. The active node
    /// reloads in [`Core::snapshot_restore`]; a report seen while that reload had dropped the
    /// old state must not reload a second time (which drops the new state again and leaves
    /// requests without an active state for a moment).
    pub async fn after_replicated_restore(&self) {
        let _guard = self.lifecycle.lock().await;
        if self.is_active_node() {
            return;
        }
        self.reload_after_restore().await;
    }

    async fn reload_after_restore(&self) {
        if self.is_sealed() {
            self.barrier.thaw_writes();
            return;
        }
        let reloaded = self.barrier.reload_keyring_after_restore().await;
        // From here writes use the restored keyring, or the node is sealed.
        if reloaded.is_ok() {
            self.barrier.thaw_writes();
        }
        if let Err(e) = reloaded {
            tracing::warn!(
                error = %e,
                "the restored keyring does not open with this node's root key; sealing: \
                 unseal with the snapshot's keys"
            );
            self.seal_locked();
            // An auto seal unseals again with the restored root-key entry.
            self.auto_unseal_wake.notify_one();
            return;
        }
        self.load_key_usage_now().await;
        let was_active = self.active.write().ok().and_then(|mut a| a.take());
        if let Some(old) = &was_active {
            old.stop_background();
        }
        if let Err(e) = self.after_unseal().await {
            tracing::error!(error = %e, "reloading the state after a restore failed; sealing");
            self.seal_locked();
            return;
        }
        tracing::info!("state reloaded after a snapshot restore");
    }
}
