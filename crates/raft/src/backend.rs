//! [`Backend`] for [`RaftStore`]: local reads (gets inline, listings on the blocking pool),
//! writes through the group-commit writer.

use async_trait::async_trait;
use tresor_storage::{Backend, Op, StorageError};

use crate::RaftStore;
use crate::blocking::run_blocking;
use crate::state_machine::{get_sync, list_sync};
use crate::types::WireOp;

#[async_trait]
impl Backend for RaftStore {
    /// Reads inline on the calling task: one B-tree lookup whose pages are in redb's or the
    /// kernel's cache nearly always. Handing it to the blocking pool cost more than the read
    /// (a thread wake-up and two context switches per get: a quarter of a node's CPU under
    /// a read load; docs/benchmarks.md, "Reads inline").
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(get_sync(&self.state_db, key)?)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let db = self.state_db.clone();
        let prefix = prefix.to_owned();
        Ok(run_blocking(move || list_sync(&db, &prefix)).await?)
    }

    async fn apply(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        if ops.iter().any(|op| op.key().is_empty()) {
            return Err(StorageError::Invalid("empty key".into()));
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.check_writable()?;
        let ops: Vec<WireOp> = ops.into_iter().map(WireOp::from).collect();
        Ok(self.writer().submit(ops).await?)
    }
}
