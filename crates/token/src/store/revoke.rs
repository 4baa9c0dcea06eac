//! Revocation: whole trees (a token and all its descendants) or a single token whose children
//! become orphans.
//!
//! A tree revocation is durable: before anything is deleted, the root of the tree is marked
//! `revoking` (in its record and under `revoking/`), which makes it and, through the ancestor
//! check, every descendant unusable at once. Records are then deleted deepest first, so every
//! token still present keeps its chain up to the marked root. If the node stops half-way, the
//! marker survives and the background expiry sweep (or tidy) finishes the job.

use std::collections::HashSet;

use tresor_storage::{Backend, Op};

use super::{
    PARENT_PREFIX, TokenStore, accessor_key, child_key, encode, id_key, revoking_key, wrap_key,
};
use crate::batch::is_batch;
use crate::error::TokenError;
use crate::expiry_index::expiry_key;

impl TokenStore {
    /// Revokes `token` and, recursively, all its children. Unknown tokens are ignored; a
    /// usable batch token is refused ("batch tokens cannot be revoked").
    pub async fn revoke(&self, token: &str) -> Result<(), TokenError> {
        self.refuse_batch_revocation(token).await?;
        let Some((hash, _)) = self.load_by_id(token).await? else {
            return Ok(());
        };
        let _guard = self.write.lock().await;
        self.revoke_tree_locked(&hash).await.map(|_| ())
    }

    /// Revokes the token behind `accessor` and its children. Returns `false` when the accessor
    /// is unknown.
    pub async fn revoke_accessor(&self, accessor: &str) -> Result<bool, TokenError> {
        let Some(acc) = self.load_accessor(accessor).await? else {
            return Ok(false);
        };
        let _guard = self.write.lock().await;
        self.revoke_tree_locked(&acc.token_hash).await?;
        Ok(true)
    }

    /// Revokes `token` only; its children lose their parent and become orphans. Unknown tokens
    /// are ignored. A token whose tree revocation has already started is revoked with its
    /// tree: that revocation already made the children unusable and must complete.
    pub async fn revoke_orphan(&self, token: &str) -> Result<(), TokenError> {
        self.refuse_batch_revocation(token).await?;
        let Some((hash, _)) = self.load_by_id(token).await? else {
            return Ok(());
        };
        let _guard = self.write.lock().await;
        match self.load(&hash).await? {
            None => return Ok(()),
            Some(e) if e.revoking => return self.revoke_tree_locked(&hash).await.map(|_| ()),
            Some(_) => {}
        }
        for child in self.children(&hash).await? {
            let mut ops = vec![Op::Delete {
                key: child_key(&hash, &child),
            }];
            if let Some(mut entry) = self.load(&child).await? {
                entry.parent = None;
                entry.orphan = true;
                ops.push(Op::Put {
                    key: id_key(&child),
                    value: encode(&entry)?,
                });
            }
            self.view.apply(ops).await?;
        }
        self.delete_one_locked(&hash).await
    }

    /// Batch tokens cannot be revoked: a usable one is refused; an unusable one, like any
    /// unknown token, is ignored.
    async fn refuse_batch_revocation(&self, token: &str) -> Result<(), TokenError> {
        if is_batch(token) && self.lookup_batch(token).await?.is_some() {
            return Err(TokenError::invalid("batch tokens cannot be revoked"));
        }
        Ok(())
    }

    pub(super) async fn children(&self, hash: &str) -> Result<Vec<String>, TokenError> {
        Ok(self
            .view
            .list(&format!("{PARENT_PREFIX}{hash}/"))
            .await?
            .into_iter()
            .filter(|c| !c.ends_with('/'))
            .collect())
    }

    /// Revokes the token stored under `hash` and every descendant: marks the root `revoking`
    /// when it has children (a lone token is deleted in one atomic batch and needs no marker),
    /// then deletes deepest first so that an interrupted revocation never leaves a child
    /// without a reachable parent index. Returns how many token records were removed. Caller
    /// holds the write lock.
    pub(super) async fn revoke_tree_locked(&self, hash: &str) -> Result<usize, TokenError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![hash.to_owned()];
        while let Some(h) = stack.pop() {
            if !seen.insert(h.clone()) {
                continue;
            }
            stack.extend(self.children(&h).await?);
            order.push(h);
        }
        if order.len() > 1 {
            self.mark_revoking_locked(hash).await?;
        }
        let mut removed = 0;
        for h in order.iter().rev() {
            if self.view.get(&id_key(h)).await?.is_some() {
                removed += 1;
            }
            self.delete_one_locked(h).await?;
        }
        Ok(removed)
    }

    /// Marks the token under `hash` as being revoked, in its record and in the `revoking/`
    /// index, atomically. Missing, undecodable and already marked records are left alone.
    pub(super) async fn mark_revoking_locked(&self, hash: &str) -> Result<(), TokenError> {
        let Ok(Some(mut entry)) = self.load(hash).await else {
            return Ok(());
        };
        if entry.revoking {
            return Ok(());
        }
        entry.revoking = true;
        self.view
            .apply(vec![
                Op::Put {
                    key: revoking_key(hash),
                    value: Vec::new(),
                },
                Op::Put {
                    key: id_key(hash),
                    value: encode(&entry)?,
                },
            ])
            .await?;
        Ok(())
    }

    /// Deletes one token record with its accessor, its entry in its parent's index, its own
    /// (now empty or dangling) child index, its expiry index entry, its revocation marker and
    /// any wrapped response it guards, atomically.
    pub(super) async fn delete_one_locked(&self, hash: &str) -> Result<(), TokenError> {
        let mut ops = vec![
            Op::Delete { key: id_key(hash) },
            Op::Delete {
                key: wrap_key(hash),
            },
            Op::Delete {
                key: revoking_key(hash),
            },
        ];
        // A record that does not decode is still removed, with whatever indexes we can find.
        if let Ok(Some(entry)) = self.load(hash).await {
            if let Some(t) = entry.expire_time {
                ops.push(Op::Delete {
                    key: expiry_key(t, hash),
                });
            }
            if !entry.accessor.is_empty() {
                ops.push(Op::Delete {
                    key: accessor_key(&self.hash_accessor(&entry.accessor).await?),
                });
            }
            if let Some(parent) = &entry.parent {
                ops.push(Op::Delete {
                    key: child_key(parent, hash),
                });
            }
        }
        for child in self.children(hash).await? {
            ops.push(Op::Delete {
                key: child_key(hash, &child),
            });
        }
        self.view.apply(ops).await?;
        Ok(())
    }
}
