//! Where KV v2 keeps its state in the mount's storage view.
//!
//! Layout (all values JSON):
//! - `config`: the mount-wide [`Config`].
//! - `meta/<path>`: the [`KeyMeta`] of the key `<path>`, including its versions map. The
//!   metadata tree has the shape of the key paths, so `LIST metadata/<prefix>/` is one storage
//!   listing of `meta/<prefix>/`.
//! - `versions/<sha256(path) hex>/<n>`: the data object of version `n` of `<path>`. Hashing
//!   the path keeps version keys of `a` and of `a/1` apart and gives every key one flat folder.
//!
//! Every change to a key (new version, pruning, destroy, metadata delete) is one atomic batch.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tresor_sdk::LogicalError;
use tresor_storage::{Backend, Op, View};

use super::model::{Config, KeyMeta};
use crate::kv::{corrupt, decode_object, encode};

const CONFIG_KEY: &str = "config";
const META_PREFIX: &str = "meta/";
const VERSIONS_PREFIX: &str = "versions/";

/// The storage key of a key's metadata.
pub(crate) fn meta_key(path: &str) -> String {
    format!("{META_PREFIX}{path}")
}

/// The storage key of one version's data.
pub(crate) fn version_key(path: &str, version: u64) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("{VERSIONS_PREFIX}{}/{version}", hex::encode(digest))
}

/// Typed access to a KV v2 mount's storage.
pub(crate) struct Store<'a> {
    view: &'a View,
}

impl<'a> Store<'a> {
    /// Wraps the mount's view.
    pub(crate) fn new(view: &'a View) -> Self {
        Self { view }
    }

    /// The mount config (defaults when never written).
    pub(crate) async fn config(&self) -> Result<Config, LogicalError> {
        match self.view.get(CONFIG_KEY).await? {
            None => Ok(Config::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| corrupt(CONFIG_KEY, e.to_string())),
        }
    }

    /// Stores the mount config.
    pub(crate) async fn put_config(&self, config: &Config) -> Result<(), LogicalError> {
        Ok(self.view.put(CONFIG_KEY, encode(config)?).await?)
    }

    /// A key's metadata, if the key exists.
    pub(crate) async fn meta(&self, path: &str) -> Result<Option<KeyMeta>, LogicalError> {
        let key = meta_key(path);
        match self.view.get(&key).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| corrupt(&key, e.to_string())),
        }
    }

    /// The data of one version, if stored.
    pub(crate) async fn version_data(
        &self,
        path: &str,
        version: u64,
    ) -> Result<Option<Map<String, Value>>, LogicalError> {
        let key = version_key(path, version);
        match self.view.get(&key).await? {
            None => Ok(None),
            Some(b) => decode_object(&key, &b).map(Some),
        }
    }

    /// The operation that stores `meta` for `path`.
    pub(crate) fn put_meta_op(path: &str, meta: &KeyMeta) -> Result<Op, LogicalError> {
        Ok(Op::Put {
            key: meta_key(path),
            value: encode(meta)?,
        })
    }

    /// Stores a key's metadata alone.
    pub(crate) async fn put_meta(&self, path: &str, meta: &KeyMeta) -> Result<(), LogicalError> {
        self.apply(vec![Self::put_meta_op(path, meta)?]).await
    }

    /// Applies a batch atomically.
    pub(crate) async fn apply(&self, ops: Vec<Op>) -> Result<(), LogicalError> {
        Ok(self.view.apply(ops).await?)
    }

    /// Immediate children of `prefix` (empty or ending in `/`) in the metadata tree.
    pub(crate) async fn list_meta(&self, prefix: &str) -> Result<Vec<String>, LogicalError> {
        Ok(self.view.list(&format!("{META_PREFIX}{prefix}")).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_are_hashed_and_distinct() {
        let a1 = version_key("a", 1);
        assert!(a1.starts_with("versions/") && a1.ends_with("/1"));
        assert_eq!(a1.len(), "versions/".len() + 64 + 2);
        assert_ne!(version_key("a", 1), version_key("a/1", 1));
        assert_eq!(meta_key("a/b"), "meta/a/b");
    }
}
