//! The expiry sweep: finishes interrupted revocations and revokes tokens that have expired,
//! with their children, reading the `revoking/` markers and the due part of the expiry index.
//! The background [`ExpiryTask`](crate::ExpiryTask) runs it periodically on the active node.

use tresor_storage::{Backend, Op};

use super::{REVOKING_PREFIX, TokenStore, expiry_put};
use crate::error::TokenError;
use crate::expiry_index::{EXPIRY_PREFIX, day_due, expiry_key, minute_due};

/// What one [`TokenStore::expire_due`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Expired tokens revoked (each with its descendants).
    pub expired: usize,
    /// Interrupted tree revocations completed.
    pub resumed: usize,
    /// Stale expiry index entries removed (token gone or renewed).
    pub stale: usize,
    /// Whether the budget ran out before everything due was examined.
    pub more: bool,
}

impl Sweep {
    /// Whether the pass changed anything.
    pub fn changed(&self) -> bool {
        self.expired + self.resumed + self.stale > 0
    }
}

/// Counts down the index entries a pass may examine.
struct Budget(usize);

impl Budget {
    /// Takes one unit; `false` when none is left (and records that work remains).
    fn take(&mut self, sweep: &mut Sweep) -> bool {
        if self.0 == 0 {
            sweep.more = true;
            return false;
        }
        self.0 -= 1;
        true
    }
}

impl TokenStore {
    /// One sweep at the store's `now`: completes revocations that were interrupted, then
    /// revokes every expired token listed in the due part of the expiry index, with its
    /// descendants. Examines at most `budget` index entries (the rest wait for the next pass;
    /// [`Sweep::more`] tells). Takes the write lock once per token, so requests interleave.
    pub async fn expire_due(&self, budget: usize) -> Result<Sweep, TokenError> {
        let mut sweep = Sweep::default();
        let mut budget = Budget(budget);
        for hash in self.view.list(REVOKING_PREFIX).await? {
            if hash.ends_with('/') {
                continue;
            }
            if !budget.take(&mut sweep) {
                return Ok(sweep);
            }
            let _guard = self.write.lock().await;
            self.revoke_tree_locked(&hash).await?;
            sweep.resumed += 1;
        }

        let now = self.now();
        for day in self.view.list(EXPIRY_PREFIX).await? {
            match day_due(&day, now) {
                None => continue,
                Some(false) => break,
                Some(true) => {}
            }
            let day_prefix = format!("{EXPIRY_PREFIX}{day}");
            for minute in self.view.list(&day_prefix).await? {
                match minute_due(&minute, now) {
                    None => continue,
                    Some(false) => break,
                    Some(true) => {}
                }
                let minute_prefix = format!("{day_prefix}{minute}");
                for hash in self.view.list(&minute_prefix).await? {
                    if hash.ends_with('/') {
                        continue;
                    }
                    if !budget.take(&mut sweep) {
                        return Ok(sweep);
                    }
                    let key = format!("{minute_prefix}{hash}");
                    self.expire_listed(&key, &hash, now, &mut sweep).await?;
                }
            }
        }
        Ok(sweep)
    }

    /// Handles one due index entry `key` for the token under `hash`.
    async fn expire_listed(
        &self,
        key: &str,
        hash: &str,
        now: u64,
        sweep: &mut Sweep,
    ) -> Result<(), TokenError> {
        let _guard = self.write.lock().await;
        let entry = match self.load(hash).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.view.delete(key).await?;
                sweep.stale += 1;
                return Ok(());
            }
            Err(e) => {
                // Listed as due: whatever the record held has expired. Revocation removes
                // undecodable records with the indexes it can find.
                tracing::warn!(error = %e, "expiry: revoking an undecodable token record");
                self.revoke_tree_locked(hash).await?;
                self.view.delete(key).await?;
                sweep.expired += 1;
                return Ok(());
            }
        };
        if entry.expire_time.map(|t| expiry_key(t, hash)).as_deref() != Some(key) {
            // Renewed (or never expiring after all): this entry is stale; make sure the right
            // one exists.
            let mut ops = vec![Op::Delete {
                key: key.to_owned(),
            }];
            ops.extend(expiry_put(&entry, hash));
            self.view.apply(ops).await?;
            sweep.stale += 1;
            return Ok(());
        }
        if entry.is_expired(now) {
            self.revoke_tree_locked(hash).await?;
            sweep.expired += 1;
        }
        Ok(())
    }
}
