//! An in-memory [`Backend`], for tests and for layering checks.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{Backend, Op, StorageError, children_of};

/// A `BTreeMap` behind a mutex. Atomic batches, nothing durable.
#[derive(Default, Debug)]
pub struct InMemBackend {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl InMemBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every entry (for tests that inspect what reached storage).
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A poisoned map only means a panic happened while holding it; the map itself is
        // always left consistent because every mutation is a single insert/remove.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Backend for InMemBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let map = self.lock();
        let keys = map
            .range(prefix.to_owned()..)
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix));
        Ok(children_of(prefix, keys))
    }

    async fn apply(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        for op in &ops {
            if op.key().is_empty() {
                return Err(StorageError::Invalid("empty key".into()));
            }
        }
        let mut map = self.lock();
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    map.insert(key, value);
                }
                Op::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inmem_passes_conformance() {
        crate::conformance::run(&InMemBackend::new()).await;
    }
}
