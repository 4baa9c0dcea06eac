//! Tidy: removes expired tokens and index entries that point nowhere.

use tresor_storage::{Backend, Op, list_recursive};

use super::{
    ACCESSOR_PREFIX, AccessorEntry, ID_PREFIX, PARENT_PREFIX, REVOKING_PREFIX, TokenStore,
    WRAP_PREFIX, accessor_key, child_key, decode, id_key, wrap_key,
};
use crate::error::TokenError;
use crate::expiry_index::{EXPIRY_PREFIX, expiry_key};

impl TokenStore {
    /// Completes interrupted revocations, revokes expired tokens (with their children) and
    /// tokens whose parent is gone, and deletes accessor, parent and expiry index entries and
    /// wrapped responses that point at missing tokens. Lists every live expiring token in the
    /// expiry index (tokens stored before the index existed). Returns how many records were
    /// removed.
    pub async fn tidy(&self) -> Result<usize, TokenError> {
        let _guard = self.write.lock().await;
        let now = self.now();
        let mut removed = 0;

        for hash in self.view.list(REVOKING_PREFIX).await? {
            if !hash.ends_with('/') {
                removed += self.revoke_tree_locked(&hash).await?;
            }
        }

        for hash in self.view.list(ID_PREFIX).await? {
            if hash.ends_with('/') {
                continue;
            }
            let entry = match self.load(&hash).await {
                Ok(Some(e)) => e,
                Ok(None) => continue, // removed earlier in this pass
                Err(e) => {
                    tracing::warn!(error = %e, "tidy: skipping undecodable token record");
                    continue;
                }
            };
            let parent_gone = match &entry.parent {
                Some(p) => self.view.get(&id_key(p)).await?.is_none(),
                None => false,
            };
            if entry.revoking || entry.is_expired(now) || parent_gone {
                removed += self.revoke_tree_locked(&hash).await?;
            } else if let Some(t) = entry.expire_time {
                let key = expiry_key(t, &hash);
                if self.view.get(&key).await?.is_none() {
                    self.view.put(&key, Vec::new()).await?;
                }
            }
        }

        for key in list_recursive(&self.view, EXPIRY_PREFIX).await? {
            let Some(hash) = key.rsplit('/').next() else {
                continue;
            };
            let current = match self.load(hash).await {
                Ok(Some(e)) => e.expire_time.map(|t| expiry_key(t, hash)),
                Ok(None) => None,
                // Left for the expiry sweep, which revokes undecodable records once due.
                Err(_) => Some(key.clone()),
            };
            if current.as_deref() != Some(key.as_str()) {
                self.view.delete(&key).await?;
                removed += 1;
            }
        }

        for name in self.view.list(ACCESSOR_PREFIX).await? {
            let key = accessor_key(&name);
            let Some(bytes) = self.view.get(&key).await? else {
                continue;
            };
            let dangling = match decode::<AccessorEntry>(&key, &bytes) {
                Ok(acc) => self.view.get(&id_key(&acc.token_hash)).await?.is_none(),
                Err(_) => true,
            };
            if dangling {
                self.view.delete(&key).await?;
                removed += 1;
            }
        }

        for hash in self.view.list(WRAP_PREFIX).await? {
            if hash.ends_with('/') {
                continue;
            }
            if self.view.get(&id_key(&hash)).await?.is_none() {
                self.view.delete(&wrap_key(&hash)).await?;
                removed += 1;
            }
        }

        for folder in self.view.list(PARENT_PREFIX).await? {
            let Some(parent) = folder.strip_suffix('/') else {
                continue;
            };
            let parent_exists = self.view.get(&id_key(parent)).await?.is_some();
            let mut ops = Vec::new();
            for child in self.children(parent).await? {
                let child_exists = self.view.get(&id_key(&child)).await?.is_some();
                if !parent_exists || !child_exists {
                    ops.push(Op::Delete {
                        key: child_key(parent, &child),
                    });
                }
            }
            removed += ops.len();
            if !ops.is_empty() {
                self.view.apply(ops).await?;
            }
        }
        Ok(removed)
    }
}
