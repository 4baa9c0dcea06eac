//! Response wrapping: single-use orphan tokens that guard one stored response.
//!
//! The response lives at `wrap/<hash(id)>`, next to the token record, and is written and
//! deleted in the same atomic batch as the token. Revocation, lazy expiry and tidy remove it
//! with the token (see `delete_one_locked`), so an expired wrapping token's response is
//! unreachable and eventually gone.

use serde::{Deserialize, Serialize};
use tresor_storage::{Backend, Op};
use zeroize::Zeroizing;

use super::{
    AccessorEntry, TokenStore, accessor_key, decode, encode, expiry_put, id_key, wrap_key,
};
use crate::entry::{RESPONSE_WRAPPING_POLICY, SERVICE_TYPE, TokenEntry};
use crate::error::TokenError;
use crate::ids::{new_accessor, new_token_id};

/// A consumed wrapping token and the response it guarded.
pub struct Unwrapped {
    /// The wrapping token as it was before it was revoked.
    pub entry: TokenEntry,
    /// The stored response, exactly as given to [`TokenStore::create_wrapping`].
    pub response: Zeroizing<String>,
}

impl std::fmt::Debug for Unwrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwrapped")
            .field("accessor", &self.entry.accessor)
            .field("response", &"<redacted>")
            .finish()
    }
}

/// The stored form of a wrapped response.
#[derive(Serialize, Deserialize)]
struct WrapRecord {
    response: String,
}

impl Drop for WrapRecord {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.response);
    }
}

impl TokenEntry {
    /// Whether this is a response-wrapping token (its only policy is `response-wrapping`).
    pub fn is_wrapping(&self) -> bool {
        matches!(self.policies.as_slice(), [p] if p == RESPONSE_WRAPPING_POLICY)
    }
}

/// The record of a new wrapping token: policy `response-wrapping`, one use, no parent, not
/// renewable, living `ttl` seconds from `now` and never longer.
pub(crate) fn wrapping_entry(now: u64, ttl: u64, creation_path: &str) -> TokenEntry {
    TokenEntry {
        id: new_token_id(),
        accessor: new_accessor(),
        parent: None,
        policies: vec![RESPONSE_WRAPPING_POLICY.to_owned()],
        num_uses: 1,
        creation_time: now,
        ttl,
        creation_ttl: ttl,
        expire_time: Some(now.saturating_add(ttl)),
        explicit_max_ttl: ttl,
        renewable: false,
        orphan: true,
        path: creation_path.to_owned(),
        token_type: SERVICE_TYPE.to_owned(),
        ..TokenEntry::default()
    }
}

impl TokenStore {
    /// Issues a wrapping token that lives `ttl` seconds and stores `response` with it. The
    /// token is single-use and an orphan (revoking the requester does not destroy it).
    pub async fn create_wrapping(
        &self,
        ttl: u64,
        creation_path: &str,
        response: &str,
    ) -> Result<TokenEntry, TokenError> {
        if ttl == 0 {
            return Err(TokenError::invalid(
                "wrapping TTL must be greater than zero",
            ));
        }
        let entry = wrapping_entry(self.now(), ttl, creation_path);
        let _guard = self.write.lock().await;
        self.insert_wrapping_locked(&entry, response).await?;
        Ok(entry)
    }

    async fn insert_wrapping_locked(
        &self,
        entry: &TokenEntry,
        response: &str,
    ) -> Result<(), TokenError> {
        let hash = self.hash_id(&entry.id).await?;
        let acc_hash = self.hash_accessor(&entry.accessor).await?;
        if self.view.get(&id_key(&hash)).await?.is_some() {
            return Err(TokenError::invalid(
                "cannot create a token with a duplicate ID",
            ));
        }
        let record = WrapRecord {
            response: response.to_owned(),
        };
        let mut ops: Vec<Op> = expiry_put(entry, &hash).into_iter().collect();
        ops.extend([
            Op::Put {
                key: wrap_key(&hash),
                value: encode(&record)?,
            },
            Op::Put {
                key: accessor_key(&acc_hash),
                value: encode(&AccessorEntry {
                    accessor: entry.accessor.clone(),
                    token_hash: hash.clone(),
                })?,
            },
            Op::Put {
                key: id_key(&hash),
                value: encode(entry)?,
            },
        ]);
        self.view.apply(ops).await?;
        Ok(())
    }

    /// The live wrapping token `token`, without using it up. `None` when the token is unknown,
    /// expired (it is then revoked on the way) or not a wrapping token.
    pub async fn lookup_wrapping(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        Ok(self.lookup(token).await?.filter(TokenEntry::is_wrapping))
    }

    /// Loads the live wrapping token `token` and its response; the caller holds the write
    /// lock. An expired one is revoked and reported as missing.
    async fn load_wrapping_locked(
        &self,
        token: &str,
    ) -> Result<Option<(String, TokenEntry, Zeroizing<String>)>, TokenError> {
        let Some((hash, entry)) = self.load_by_id(token).await? else {
            return Ok(None);
        };
        if !entry.is_wrapping() {
            return Ok(None);
        }
        if let Err(why) = self.usable(&entry, self.now()).await? {
            if why.revoke_self() {
                self.revoke_tree_locked(&hash).await?;
            }
            return Ok(None);
        }
        let key = wrap_key(&hash);
        let Some(bytes) = self.view.get(&key).await? else {
            return Ok(None);
        };
        let bytes = Zeroizing::new(bytes);
        let mut record: WrapRecord = decode(&key, &bytes)?;
        let response = Zeroizing::new(std::mem::take(&mut record.response));
        Ok(Some((hash, entry, response)))
    }

    /// Consumes the wrapping token `token`: returns the response it guards and revokes the
    /// token, which deletes the stored response. Returns `None` (and consumes nothing) when
    /// the token is unknown, expired, already used or not a wrapping token. Two concurrent
    /// calls never both succeed.
    pub async fn unwrap(&self, token: &str) -> Result<Option<Unwrapped>, TokenError> {
        let _guard = self.write.lock().await;
        let Some((hash, entry, response)) = self.load_wrapping_locked(token).await? else {
            return Ok(None);
        };
        self.revoke_tree_locked(&hash).await?;
        Ok(Some(Unwrapped { entry, response }))
    }

    /// Moves the response guarded by `token` to a new wrapping token with the same TTL and
    /// creation path, and revokes `token`. Returns the new token, or `None` when `token` is
    /// not a live wrapping token.
    pub async fn rewrap(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        let _guard = self.write.lock().await;
        let Some((hash, old, response)) = self.load_wrapping_locked(token).await? else {
            return Ok(None);
        };
        let entry = wrapping_entry(self.now(), old.creation_ttl, &old.path);
        self.insert_wrapping_locked(&entry, &response).await?;
        self.revoke_tree_locked(&hash).await?;
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tresor_storage::{InMemBackend, View};

    use super::*;
    use crate::clock::ManualClock;
    use crate::entry::TtlLimits;

    const START: u64 = 1_700_000_000;

    fn store() -> (Arc<InMemBackend>, Arc<ManualClock>, TokenStore) {
        let mem = Arc::new(InMemBackend::new());
        let clock = Arc::new(ManualClock::new(START));
        let store = TokenStore::with_clock(
            View::new(mem.clone(), "sys/token/"),
            TtlLimits {
                default_lease_ttl: 3600,
                max_lease_ttl: 7200,
            },
            clock.clone(),
        );
        (mem, clock, store)
    }

    #[test]
    fn wrapping_entries_are_single_use_orphans() {
        let e = wrapping_entry(100, 900, "auth/token/create");
        assert!(e.is_wrapping());
        assert_eq!(e.num_uses, 1);
        assert!(e.orphan && e.parent.is_none() && !e.renewable);
        assert_eq!(e.expire_time, Some(1000));
        assert_eq!(e.explicit_max_ttl, 900);
        assert_eq!(e.path, "auth/token/create");
        let mut other = e.clone();
        other.policies.push("default".into());
        assert!(!other.is_wrapping());
    }

    #[tokio::test]
    async fn unwrap_returns_the_response_once() {
        let (mem, _, store) = store();
        let w = store
            .create_wrapping(300, "sys/wrapping/wrap", r#"{"data":{"k":"v"}}"#)
            .await
            .unwrap();
        assert!(store.lookup_wrapping(&w.id).await.unwrap().is_some());
        // No storage key holds the token id.
        for key in mem.dump().keys() {
            assert!(!key.contains(&w.id), "token id in key {key}");
        }
        let got = store.unwrap(&w.id).await.unwrap().unwrap();
        assert_eq!(got.response.as_str(), r#"{"data":{"k":"v"}}"#);
        assert_eq!(got.entry.accessor, w.accessor);
        assert!(store.unwrap(&w.id).await.unwrap().is_none());
        assert!(store.lookup(&w.id).await.unwrap().is_none());
        assert!(
            mem.dump().keys().all(|k| !k.contains("/wrap/")),
            "response left behind"
        );
    }

    #[tokio::test]
    async fn ordinary_tokens_are_not_wrapping_tokens() {
        let (_, _, store) = store();
        let root = store.create_root(None).await.unwrap();
        assert!(store.lookup_wrapping(&root.id).await.unwrap().is_none());
        assert!(store.unwrap(&root.id).await.unwrap().is_none());
        assert!(store.rewrap(&root.id).await.unwrap().is_none());
        // The token was not consumed by the failed unwrap.
        assert!(store.lookup(&root.id).await.unwrap().is_some());
        assert!(store.create_wrapping(0, "x", "{}").await.is_err());
    }

    #[tokio::test]
    async fn expired_wrapping_tokens_lose_their_response() {
        let (mem, clock, store) = store();
        let a = store.create_wrapping(60, "p", "{}").await.unwrap();
        let b = store.create_wrapping(60, "p", "{}").await.unwrap();
        clock.advance(60);
        assert!(store.lookup_wrapping(&a.id).await.unwrap().is_none());
        assert!(store.unwrap(&a.id).await.unwrap().is_none());
        // `b` is never touched again; tidy removes it and its response.
        assert!(store.tidy().await.unwrap() >= 1);
        assert!(store.lookup(&b.id).await.unwrap().is_none());
        let keys: Vec<String> = mem.dump().into_keys().collect();
        assert!(
            keys.iter().all(|k| !k.contains("/wrap/")),
            "responses left behind: {keys:?}"
        );
    }

    #[tokio::test]
    async fn using_the_token_elsewhere_or_revoking_it_destroys_the_response() {
        let (_, _, store) = store();
        let a = store.create_wrapping(60, "p", "{}").await.unwrap();
        assert!(store.authorize(&a.id).await.unwrap().is_some());
        assert!(store.unwrap(&a.id).await.unwrap().is_none());
        let b = store.create_wrapping(60, "p", "{}").await.unwrap();
        assert!(store.revoke_accessor(&b.accessor).await.unwrap());
        assert!(store.unwrap(&b.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rewrap_moves_the_response_to_a_new_token() {
        let (_, clock, store) = store();
        let old = store.create_wrapping(600, "kv/x", "resp").await.unwrap();
        clock.advance(100);
        let new = store.rewrap(&old.id).await.unwrap().unwrap();
        assert_ne!(new.id, old.id);
        assert_eq!(new.creation_ttl, 600);
        assert_eq!(new.path, "kv/x");
        assert_eq!(new.expire_time, Some(START + 700));
        assert!(store.lookup_wrapping(&old.id).await.unwrap().is_none());
        assert!(store.unwrap(&old.id).await.unwrap().is_none());
        let got = store.unwrap(&new.id).await.unwrap().unwrap();
        assert_eq!(got.response.as_str(), "resp");
    }
}
