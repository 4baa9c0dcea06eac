//! The storage seam of Tresor.
//!
//! Every layer that stores bytes under string keys implements [`Backend`]: the Raft-replicated
//! physical store (ciphertext only), the encrypting barrier on top of it (plaintext view), and
//! [`View`]s that confine a mount or subsystem to a key prefix. One trait means one conformance
//! suite ([`conformance`], behind the `testing` feature) that every implementation runs.
//!
//! Keys are `/`-separated paths without a leading slash (`core/keyring`, `logical/<uuid>/foo`).
//! [`Backend::list`] follows Vault's semantics: it returns the immediate children of a prefix,
//! "folders" with a trailing `/`, sorted and de-duplicated.

mod error;
mod inmem;
mod list;
mod view;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use error::StorageError;
pub use inmem::InMemBackend;
pub use list::children_of;
pub use view::View;

use async_trait::async_trait;

/// One change in an atomic batch applied by [`Backend::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`, replacing any existing value.
    Put {
        /// The full key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key`; removing a missing key is not an error.
    Delete {
        /// The full key.
        key: String,
    },
}

impl Op {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// A key/value store with atomic batches. Implementations must be safe to share between tasks.
///
/// Guarantees every implementation gives (and [`conformance`] checks):
/// - `apply` is atomic: after it returns `Ok`, every op is visible to later `get`/`list` calls;
///   after it returns `Err`, none of them is (an ambiguous outcome is reported as
///   [`StorageError::Unknown`], never as success).
/// - `list` returns immediate children only, sorted, folders suffixed with `/`.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The value stored at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// The immediate children of `prefix` (which is empty or ends with `/`).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Applies `ops` atomically and durably, in order.
    async fn apply(&self, ops: Vec<Op>) -> Result<(), StorageError>;

    /// Stores `value` at `key`.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.apply(vec![Op::Put {
            key: key.to_owned(),
            value,
        }])
        .await
    }

    /// Removes `key` (a missing key is not an error).
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.apply(vec![Op::Delete {
            key: key.to_owned(),
        }])
        .await
    }
}

/// Every key below `prefix`, recursively (convenience built on [`Backend::list`]).
pub async fn list_recursive(
    backend: &dyn Backend,
    prefix: &str,
) -> Result<Vec<String>, StorageError> {
    let mut out = Vec::new();
    let mut stack = vec![prefix.to_owned()];
    while let Some(p) = stack.pop() {
        for child in backend.list(&p).await? {
            let full = format!("{p}{child}");
            if child.ends_with('/') {
                stack.push(full);
            } else {
                out.push(full);
            }
        }
    }
    out.sort();
    Ok(out)
}
