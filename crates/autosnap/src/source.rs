//! The seam to the snapshot itself: whatever writes a Vault-layout snapshot archive of the
//! Raft state.

use async_trait::async_trait;

/// Writes one complete snapshot (a gzip'd tar in Vault's layout) of the current Raft state.
/// Implemented by the Raft layer; tests use a fake that writes bytes.
#[async_trait]
pub trait SnapshotSource: Send + Sync + 'static {
    /// Streams the snapshot into `out` and returns the number of bytes written. An error
    /// leaves `out` with a partial snapshot; the caller discards it.
    async fn write_snapshot(
        &self,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, SourceError>;
}

/// Why a snapshot could not be taken (the message is shown in the status and logs).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError(e.to_string())
    }
}
