//! Usability of a stored token: its own state and that of every ancestor (see
//! [`validity`](crate::validity)), and the reactions to an unusable token.

use super::TokenStore;
use crate::entry::TokenEntry;
use crate::error::TokenError;
use crate::validity::{MAX_DEPTH, Unusable, ancestor_step, own_state};

impl TokenStore {
    /// Whether `entry` may be used at `now`: `Ok(Ok(n))` with its number of ancestors, or
    /// `Ok(Err(why))`. Reads one record per ancestor, at most [`MAX_DEPTH`].
    pub(super) async fn usable(
        &self,
        entry: &TokenEntry,
        now: u64,
    ) -> Result<Result<usize, Unusable>, TokenError> {
        if let Err(why) = own_state(entry, now) {
            return Ok(Err(why));
        }
        let mut next = entry.parent.clone();
        let mut depth = 0;
        while let Some(hash) = next {
            depth += 1;
            if depth > MAX_DEPTH {
                return Ok(Err(Unusable::TooDeep));
            }
            let ancestor = self.load(&hash).await?;
            match ancestor_step(ancestor.as_ref(), depth, now) {
                Ok(parent) => next = parent.map(str::to_owned),
                Err(why) => return Ok(Err(why)),
            }
        }
        Ok(Ok(depth))
    }

    /// `entry` (stored under `hash`) if it is usable now. When it is not and the reason calls
    /// for it (expired, revocation started, parent gone), it is revoked with its children on
    /// the way, best effort: the background expiry task and tidy retry failures.
    pub(super) async fn live(
        &self,
        hash: &str,
        entry: TokenEntry,
    ) -> Result<Option<TokenEntry>, TokenError> {
        match self.usable(&entry, self.now()).await? {
            Ok(_) => Ok(Some(entry)),
            Err(why) => {
                if why.revoke_self() {
                    let _guard = self.write.lock().await;
                    if let Err(e) = self.revoke_if_unusable_locked(hash).await {
                        tracing::warn!(error = %e, "revoking an unusable token failed; the expiry task will retry");
                    }
                }
                Ok(None)
            }
        }
    }

    /// Re-reads the token under `hash` and revokes it (with its children) if it is still
    /// unusable for a reason that calls for it; the caller holds the write lock. Checked again
    /// under the lock because the answer seen without it may be stale (a renewal, or a
    /// `revoke-orphan` of the parent that made this token an orphan).
    pub(super) async fn revoke_if_unusable_locked(&self, hash: &str) -> Result<bool, TokenError> {
        let Some(entry) = self.load(hash).await? else {
            return Ok(false);
        };
        match self.usable(&entry, self.now()).await? {
            Err(why) if why.revoke_self() => {
                self.revoke_tree_locked(hash).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
