//! A [`Backend`] confined to a key prefix.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Backend, Op, StorageError};

/// Presents the keys of `inner` under `prefix` as a backend of their own: a mount sees its
/// data at `foo`, storage holds it at `logical/<uuid>/foo`.
#[derive(Clone)]
pub struct View {
    inner: Arc<dyn Backend>,
    prefix: String,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl View {
    /// A view of `inner` under `prefix` (which should end with `/`).
    pub fn new(inner: Arc<dyn Backend>, prefix: impl Into<String>) -> Self {
        Self {
            inner,
            prefix: prefix.into(),
        }
    }

    /// A view nested below this one.
    pub fn sub(&self, prefix: &str) -> View {
        View {
            inner: self.inner.clone(),
            prefix: format!("{}{}", self.prefix, prefix),
        }
    }

    /// The prefix this view adds to every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

#[async_trait]
impl Backend for View {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(&self.full(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(&self.full(prefix)).await
    }

    async fn apply(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value } => Op::Put {
                    key: self.full(&key),
                    value,
                },
                Op::Delete { key } => Op::Delete {
                    key: self.full(&key),
                },
            })
            .collect();
        self.inner.apply(ops).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemBackend;

    #[tokio::test]
    async fn view_passes_conformance_and_stays_in_prefix() {
        let inner = Arc::new(InMemBackend::new());
        inner.put("outside", b"x".to_vec()).await.unwrap();
        let view = View::new(inner.clone(), "logical/abc/");
        crate::conformance::run(&view).await;
        assert_eq!(inner.get("outside").await.unwrap(), Some(b"x".to_vec()));
        view.put("k", b"v".to_vec()).await.unwrap();
        assert_eq!(
            inner.get("logical/abc/k").await.unwrap(),
            Some(b"v".to_vec())
        );
    }
}
