//! The plaintext [`Backend`] view: encrypt on the way down, decrypt on the way up.

use std::sync::atomic::Ordering;
use std::time::Instant;

use async_trait::async_trait;
use tresor_storage::{Backend, Op, StorageError};

use crate::envelope::{self, EnvelopeError};
use crate::{Barrier, BarrierError, KEYRING_PATH};

/// Keys under this prefix belong to the barrier itself and are not reachable through it.
fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::Invalid("empty key".into()));
    }
    if key.starts_with(KEYRING_PATH) {
        return Err(StorageError::Invalid(format!(
            "{key}: reserved for the barrier's keyring"
        )));
    }
    Ok(())
}

fn corrupt(key: &str, reason: impl ToString) -> StorageError {
    StorageError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

#[async_trait]
impl Backend for Barrier {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let start = Instant::now();
        let result = self.get_plain(key).await;
        self.timings.get.observe_since(start);
        result
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let start = Instant::now();
        let result = self.list_plain(prefix).await;
        self.timings.list.observe_since(start);
        result
    }

    /// One write of several ops counts once as a `put` when it has a put, and once as a
    /// `delete` when it has a delete (each with the whole write's time).
    async fn apply(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let puts = ops.iter().any(|op| matches!(op, Op::Put { .. }));
        let deletes = ops.iter().any(|op| matches!(op, Op::Delete { .. }));
        let start = Instant::now();
        let result = self.apply_plain(ops).await;
        if puts {
            self.timings.put.observe_since(start);
        }
        if deletes {
            self.timings.delete.observe_since(start);
        }
        result
    }
}

impl Barrier {
    async fn get_plain(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let mut state = self.unsealed()?;
        let Some(blob) = self.physical.get(key).await? else {
            return Ok(None);
        };
        let term = envelope::term_of(&blob).map_err(|e| corrupt(key, e))?;
        if state.keyring.get(term).is_none() {
            // Written under a term this node has not seen: another node rotated. Pick it up.
            match self.reload_keyring().await {
                Ok(()) | Err(BarrierError::CorruptKeyring(_)) => {}
                Err(e) => return Err(e.into()),
            }
            state = self.unsealed()?;
        }
        let term_key = state
            .keyring
            .get(term)
            .ok_or_else(|| corrupt(key, format!("encrypted under unknown key term {term}")))?;
        let mut plain = envelope::open(&term_key.key, key, &blob).map_err(|e| match e {
            EnvelopeError::Decrypt => corrupt(key, "value failed authentication"),
            other => corrupt(key, other),
        })?;
        Ok(Some(std::mem::take(&mut *plain)))
    }

    async fn list_plain(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.unsealed()?;
        self.physical.list(prefix).await
    }

    async fn apply_plain(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let state = self.unsealed()?;
        if self.writes_frozen() {
            return Err(StorageError::Unavailable(
                "a snapshot restore is in progress; retry when it is done".into(),
            ));
        }
        for op in &ops {
            check_key(op.key())?;
        }
        let active = state.keyring.active();
        let mut encrypted = Vec::with_capacity(ops.len());
        for op in ops {
            encrypted.push(match op {
                Op::Put { key, value } => {
                    let blob = envelope::seal(&active.key, active.term, &key, &value)
                        .map_err(|e| StorageError::Invalid(format!("{key}: {e}")))?;
                    state.encryptions.fetch_add(1, Ordering::Relaxed);
                    Op::Put { key, value: blob }
                }
                delete @ Op::Delete { .. } => delete,
            });
        }
        self.physical.apply(encrypted).await
    }
}
