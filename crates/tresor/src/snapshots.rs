//! Operator snapshots on the Raft store: [`tresor_core::SnapshotStore`] for [`RaftStore`],
//! and the task that reloads a standby's keyring and caches after a restore it applied.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tresor_core::snapshot::{CheckSumsFn, SealSumsFn};
use tresor_core::{Core, SnapshotStore, SnapshotStoreError};
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

/// Installs snapshot support on `core` and starts the task that, on a node that is not the
/// active one, reloads the keyring and caches whenever the store applies a restore (the
/// active node does so itself at the end of the restore request).
pub(crate) fn install(
    core: &Arc<Core>,
    raft: &Arc<RaftStore>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    core.set_snapshot_store(Arc::new(RaftSnapshots(raft.clone())));
    let core = core.clone();
    let mut restores = raft.restores();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = restores.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            if !core.is_active_node() {
                core.after_restore().await;
            }
        }
    })
}
