//! Striped async locks that serialise read-modify-write cycles on the same key.
//!
//! Storage offers atomic batches but no compare-and-swap, so check-and-set and version
//! numbering are made race-free by holding the lock of the key's stripe from the read of its
//! metadata to the write of the batch. Only the active node writes, so a process-local lock is
//! enough. Two keys may share a stripe; that only costs some parallelism.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

/// A fixed set of mutexes, one picked per key by hash.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl KeyLocks {
    /// A lock set with the default number of stripes.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Waits for and holds the lock guarding `key`.
    pub(crate) async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        self.stripes[stripe_of(key, self.stripes.len())]
            .lock()
            .await
    }
}

fn stripe_of(key: &str, n: usize) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_stripe() {
        assert_eq!(stripe_of("a/b", 64), stripe_of("a/b", 64));
        assert!(stripe_of("x", 64) < 64);
    }

    #[tokio::test]
    async fn lock_excludes_second_holder() {
        let locks = KeyLocks::new();
        let g = locks.lock("k").await;
        assert!(locks.stripes[stripe_of("k", STRIPES)].try_lock().is_err());
        drop(g);
        assert!(locks.stripes[stripe_of("k", STRIPES)].try_lock().is_ok());
    }
}
