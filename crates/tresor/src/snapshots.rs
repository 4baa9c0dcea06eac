//! Operator snapshots on the Raft store: [`tresor_core::SnapshotStore`] for [`RaftStore`],
//! and the task that reloads a standby's keyring and caches after a restore it applied.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tresor_core::snapshot::{CheckSumsFn, SealSumsFn};
use tresor_core::{Core, SnapshotStore, SnapshotStoreError};
use tresor_ha::Supervisor;
use tresor_raft::{RaftError, RaftStore};

/// The Raft store's snapshot support.
struct RaftSnapshots(Arc<RaftStore>);

fn map_err(e: RaftError) -> SnapshotStoreError {
    match e {
        RaftError::InvalidSnapshot(m) => SnapshotStoreError::Invalid(m),
        RaftError::SnapshotRefused(m) => SnapshotStoreError::Refused(m),
        RaftError::NotLeader { .. } => SnapshotStoreError::NotLeader,
        RaftError::Unavailable(m) | RaftError::Stopped(m) | RaftError::Unknown(m) => {
            SnapshotStoreError::Unavailable(m)
        }
        other => SnapshotStoreError::Io(other.to_string()),
    }
}

#[async_trait::async_trait]
impl SnapshotStore for RaftSnapshots {
    async fn save(
        &self,
        out: Box<dyn Write + Send>,
        seal: SealSumsFn,
    ) -> Result<(), SnapshotStoreError> {
        self.0.save_archive(out, seal).await.map_err(map_err)?;
        Ok(())
    }

    async fn restore(&self, archive: &Path, check: CheckSumsFn) -> Result<(), SnapshotStoreError> {
        let check: tresor_raft::CheckArchive =
            Box::new(move |contents| check(&contents.sums, &contents.sealed_sums));
        self.0
            .restore_archive(archive, check)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn spool_dir(&self) -> PathBuf {
        self.0.spool_dir()
    }
}

/// Installs snapshot support (operator and automated snapshots) on `core` and starts the task that, on a node that is not the
/// active one, reloads the keyring and caches whenever the store applies a restore (the
/// active node does so itself at the end of the restore request).
/// Automated snapshots are taken through the core, as an operator's `snapshot save` is (the
/// core seals the checksums with the barrier). Holds the core weakly: the core owns the
/// scheduler that owns this source.
struct CoreSnapshots(std::sync::Weak<Core>);

#[async_trait::async_trait]
impl tresor_autosnap::SnapshotSource for CoreSnapshots {
    async fn write_snapshot(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, tresor_autosnap::SourceError> {
        let core = self
            .0
            .upgrade()
            .ok_or_else(|| tresor_autosnap::SourceError("shutting down".into()))?;
        tresor_autosnap::source::bridge_blocking(out, |w| async move {
            core.snapshot_save(w)
                .await
                .map_err(|e| tresor_autosnap::SourceError(e.to_string()))
        })
        .await
    }
}

pub(crate) fn install(core: &Arc<Core>, raft: &Arc<RaftStore>, supervisor: &Supervisor) {
    core.set_snapshot_store(Arc::new(RaftSnapshots(raft.clone())));
    core.set_snapshot_source(Arc::new(CoreSnapshots(Arc::downgrade(core))));
    let core = core.clone();
    let mut restores = raft.restores();
    let shutdown = supervisor.token();
    supervisor.spawn("snapshot_reload", async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok::<(), String>(()),
                changed = restores.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
            }
            core.after_replicated_restore().await;
        }
    });
}
