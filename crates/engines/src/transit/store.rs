//! Where transit keeps its keys in the mount's storage view.
//!
//! Layout: the key named `n` is the JSON form of [`Policy`] at `policy/n`. The view sits below
//! the barrier, so the key material is encrypted at rest by the barrier, not by this engine.

use tresor_sdk::LogicalError;
use tresor_storage::{Backend, View};
use zeroize::Zeroizing;

use super::policy::Policy;
use crate::kv::corrupt;

/// Prefix of every stored key.
const POLICY_PREFIX: &str = "policy/";

/// Typed access to the keys of one transit mount.
pub(crate) struct Store<'a> {
    view: &'a View,
}

impl<'a> Store<'a> {
    /// The store over a mount's view.
    pub(crate) fn new(view: &'a View) -> Self {
        Self { view }
    }

    fn path(name: &str) -> String {
        format!("{POLICY_PREFIX}{name}")
    }

    /// The key named `name`, if it exists.
    pub(crate) async fn load(&self, name: &str) -> Result<Option<Policy>, LogicalError> {
        let path = Self::path(name);
        let Some(bytes) = self.view.get(&path).await? else {
            return Ok(None);
        };
        let bytes = Zeroizing::new(bytes);
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(&path, e.to_string()))
    }

    /// The key named `name`, or 400 `encryption key not found`.
    pub(crate) async fn require(&self, name: &str) -> Result<Policy, LogicalError> {
        self.load(name)
            .await?
            .ok_or_else(|| LogicalError::invalid("encryption key not found"))
    }

    /// Stores `policy` under its name.
    pub(crate) async fn save(&self, policy: &Policy) -> Result<(), LogicalError> {
        let bytes = serde_json::to_vec(policy)
            .map_err(|e| LogicalError::Internal(format!("encoding key: {e}")))?;
        self.view.put(&Self::path(&policy.name), bytes).await?;
        Ok(())
    }

    /// Removes the key named `name`.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), LogicalError> {
        self.view.delete(&Self::path(name)).await?;
        Ok(())
    }

    /// The names of all keys, sorted.
    pub(crate) async fn names(&self) -> Result<Vec<String>, LogicalError> {
        let mut names: Vec<String> = self
            .view
            .list(POLICY_PREFIX)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transit::cipher::KeyType;
    use crate::transit::policy::CreateOptions;
    use tresor_storage::InMemBackend;

    #[tokio::test]
    async fn save_load_list_delete() {
        let inner = Arc::new(InMemBackend::new());
        let view = View::new(inner.clone(), "logical/t/");
        let store = Store::new(&view);
        assert!(store.load("a").await.unwrap().is_none());
        assert!(store.require("a").await.is_err());
        let p = Policy::new("a", KeyType::Aes256Gcm96, 1, &CreateOptions::default());
        store.save(&p).await.unwrap();
        store
            .save(&Policy::new(
                "b",
                KeyType::Aes128Gcm96,
                1,
                &CreateOptions::default(),
            ))
            .await
            .unwrap();
        assert!(inner.get("logical/t/policy/a").await.unwrap().is_some());
        let back = store.require("a").await.unwrap();
        assert_eq!(back.keys[&1].key.as_slice(), p.keys[&1].key.as_slice());
        assert_eq!(store.names().await.unwrap(), vec!["a", "b"]);
        store.delete("a").await.unwrap();
        assert_eq!(store.names().await.unwrap(), vec!["b"]);
        inner
            .put("logical/t/policy/c", b"{".to_vec())
            .await
            .unwrap();
        assert!(matches!(
            store.load("c").await,
            Err(LogicalError::Storage(_))
        ));
    }
}
