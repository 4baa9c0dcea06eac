//! [`Backend`] for [`RaftStore`]: local reads, writes through the group-commit writer.

use async_trait::async_trait;
use tresor_storage::{Backend, Op, StorageError};

use crate::RaftStore;
use crate::blocking::run_blocking;
use crate::state_machine::{get_sync, list_sync};
use crate::types::WireOp;

#[async_trait]
impl Backend for RaftStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let db = self.state_db.clone();
        let key = key.to_owned();
        Ok(run_blocking(move || get_sync(&db, &key)).await?)
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
