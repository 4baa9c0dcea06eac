//! Batch tokens in the store: minted without writing anything, checked on every use against
//! their expiry and their parent's record (see [`batch`](crate::batch)).

use std::sync::Arc;

use super::TokenStore;
use crate::batch::{BATCH_TYPE, BatchClaims, BatchKeys, check_rules, is_batch, open, seal};
use crate::entry::TokenEntry;
use crate::error::TokenError;

/// The refusal when a batch token tries to create tokens.
pub(super) const NO_CHILDREN: &str = "batch tokens cannot create more tokens";

impl TokenStore {
    /// Lets the store mint and open batch tokens with `keys` (in a server: derived from the
    /// barrier keyring). Without keys, batch creation is refused and `hvb.` tokens are never
    /// valid.
    pub fn with_batch_keys(mut self, keys: Arc<dyn BatchKeys>) -> Self {
        self.batch_keys = Some(keys);
        self
    }

    /// Mints a batch token from `entry` (policies, meta, display name, TTL and expiry, path,
    /// entity, role as the caller planned them). Nothing is stored. The entry's `id` and
    /// `accessor` are ignored (a batch token has no accessor), `renewable` is forced off, and
    /// [`check_rules`] applies (no use limit, period or explicit max TTL, never root).
    ///
    /// `parent` is the creating token's id, `None` for an orphan; it must be a usable service
    /// token without a use limit, and the batch token is usable only while that parent is.
    pub async fn create_batch(
        &self,
        mut entry: TokenEntry,
        parent: Option<&str>,
    ) -> Result<TokenEntry, TokenError> {
        let keys = self
            .batch_keys
            .as_ref()
            .ok_or_else(|| TokenError::invalid("batch tokens are not available on this server"))?;
        entry.token_type = BATCH_TYPE.to_owned();
        entry.renewable = false;
        entry.accessor.clear();
        entry.revoking = false;
        entry.last_renewal_time = None;
        entry.creation_ttl = entry.ttl;
        check_rules(&entry)?;
        entry.parent = None;
        let mut parent_accessor = String::new();
        if let Some(parent) = parent {
            if is_batch(parent) {
                return Err(TokenError::invalid(NO_CHILDREN));
            }
            let (parent_hash, parent_entry) = self.creating_parent(parent).await?;
            entry.parent = Some(parent_hash);
            parent_accessor = parent_entry.accessor;
        }
        entry.orphan = entry.parent.is_none();
        let (term, key) = keys.active()?;
        entry.id = seal(&BatchClaims::of(&entry, &parent_accessor), term, &key)?;
        Ok(entry)
    }

    /// The batch token `token` if it opens with this store's keys, has not expired, and its
    /// parent (if any) is the same usable token it was issued under. Reads one record per
    /// ancestor; writes nothing.
    pub(super) async fn lookup_batch(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        let Some(keys) = &self.batch_keys else {
            return Ok(None);
        };
        let Ok(claims) = open(token, keys.as_ref()) else {
            return Ok(None);
        };
        let parent_accessor = claims.parent_accessor.clone();
        let entry = claims.into_entry(token);
        if let Some(hash) = &entry.parent {
            match self.load(hash).await? {
                Some(p) if p.accessor == parent_accessor => {}
                _ => return Ok(None),
            }
        }
        Ok(self
            .usable(&entry, self.now())
            .await?
            .is_ok()
            .then_some(entry))
    }

    /// The answer to renewing, revoking or creating from a batch token: `refusal` when it is
    /// usable, permission denied when not.
    pub(super) async fn batch_refusal(
        &self,
        token: &str,
        refusal: &str,
    ) -> Result<TokenError, TokenError> {
        Ok(match self.lookup_batch(token).await? {
            Some(_) => TokenError::invalid(refusal),
            None => TokenError::PermissionDenied,
        })
    }
}
