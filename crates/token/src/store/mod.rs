//! The token store: tokens kept under a salted SHA-256 hash of their id in a private storage
//! view, with an accessor index and a parent→children index.
//!
//! Layout inside the view:
//! - `salt`: 32 random bytes, generated on first use;
//! - `id/<hash(id)>`: the [`TokenEntry`] as JSON;
//! - `accessor/<hash(accessor)>`: an [`AccessorEntry`] pointing at the token's hash;
//! - `parent/<hash(parent id)>/<hash(child id)>`: empty marker per child;
//! - `role/<name>`: a [`TokenRole`](crate::TokenRole) as JSON;
//! - `wrap/<hash(id)>`: the response a wrapping token guards (deleted with the token);
//! - `expiry/<day>/<minute>/<hash(id)>`: empty marker per token that expires (see
//!   [`expiry_index`](crate::expiry_index)), read by the background expiry sweep;
//! - `revoking/<hash(id)>`: empty marker per token whose tree revocation has started and not
//!   finished (the token record carries `revoking` too), resumed by the sweep.
//!
//! A token is usable only while it and every ancestor exist, have not expired and are not
//! being revoked ([`validity`](crate::validity)).
//!
//! Every change to tokens happens under one async mutex, so use counting, renewal and
//! revocation never interleave.

mod batch;
mod chain;
mod expiry;
mod revoke;
mod roles;
#[cfg(test)]
mod tests;
mod tidy;
mod wrapping;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, OnceCell};
use tresor_storage::{Backend, Op, View};
use zeroize::Zeroizing;

use crate::batch::{BATCH_TYPE, BatchKeys, is_batch};
use crate::clock::{Clock, SystemClock};
use crate::entry::{ROOT_POLICY, SERVICE_TYPE, TokenEntry, TtlLimits};
use crate::error::TokenError;
use crate::expiry_index::expiry_key;
use crate::ids::{new_accessor, new_token_id};
use crate::ttl::{RenewRequest, renewed_ttl};
use crate::validity::may_create;

pub use expiry::Sweep;
pub use wrapping::Unwrapped;

const SALT_KEY: &str = "salt";
const ID_PREFIX: &str = "id/";
const ACCESSOR_PREFIX: &str = "accessor/";
const PARENT_PREFIX: &str = "parent/";
const WRAP_PREFIX: &str = "wrap/";
const REVOKING_PREFIX: &str = "revoking/";
const SALT_LEN: usize = 32;

/// The accessor index record: the accessor in clear (for listing) and the hash of its token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessorEntry {
    /// The accessor.
    pub accessor: String,
    /// Salted hash of the token id it belongs to.
    pub token_hash: String,
}

/// Stores, looks up, counts uses of, renews and revokes tokens. Share it behind an `Arc`.
pub struct TokenStore {
    view: View,
    limits: TtlLimits,
    clock: Arc<dyn Clock>,
    salt: OnceCell<Zeroizing<Vec<u8>>>,
    write: Mutex<()>,
    batch_keys: Option<Arc<dyn BatchKeys>>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("view", &self.view)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, TokenError> {
    serde_json::from_slice(bytes).map_err(|e| TokenError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, TokenError> {
    serde_json::to_vec(value).map_err(|e| TokenError::Corrupt {
        key: String::new(),
        reason: format!("encode: {e}"),
    })
}

fn id_key(hash: &str) -> String {
    format!("{ID_PREFIX}{hash}")
}

fn accessor_key(hash: &str) -> String {
    format!("{ACCESSOR_PREFIX}{hash}")
}

fn wrap_key(hash: &str) -> String {
    format!("{WRAP_PREFIX}{hash}")
}

fn child_key(parent_hash: &str, child_hash: &str) -> String {
    format!("{PARENT_PREFIX}{parent_hash}/{child_hash}")
}

fn revoking_key(hash: &str) -> String {
    format!("{REVOKING_PREFIX}{hash}")
}

/// The op that lists the token stored under `hash` in the expiry index, if it expires.
fn expiry_put(entry: &TokenEntry, hash: &str) -> Option<Op> {
    entry.expire_time.map(|t| Op::Put {
        key: expiry_key(t, hash),
        value: Vec::new(),
    })
}

impl TokenStore {
    /// A store over `storage` (its private view) using the system clock.
    pub fn new(storage: View, limits: TtlLimits) -> Self {
        Self::with_clock(storage, limits, Arc::new(SystemClock))
    }

    /// A store with an injected clock (tests, simulation).
    pub fn with_clock(storage: View, limits: TtlLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            view: storage,
            limits,
            clock,
            salt: OnceCell::new(),
            write: Mutex::new(()),
            batch_keys: None,
        }
    }

    /// The TTL limits tokens are issued under.
    pub fn limits(&self) -> TtlLimits {
        self.limits
    }

    /// The limits renewals of `entry` are held to: the system's, lowered by the token's own
    /// maximum (a login's role or mount maximum).
    fn entry_limits(&self, entry: &TokenEntry) -> TtlLimits {
        let mut limits = self.limits;
        if entry.max_ttl > 0 {
            limits.max_lease_ttl = crate::ttl::effective_max(entry.max_ttl, self.limits);
        }
        limits
    }

    /// The store's idea of now, unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    async fn salt(&self) -> Result<&[u8], TokenError> {
        let salt = self
            .salt
            .get_or_try_init(|| async {
                // The cell runs one initialiser at a time; no other lock is taken here so that
                // hashing works while the write lock is held.
                if let Some(s) = self.view.get(SALT_KEY).await? {
                    if s.len() != SALT_LEN {
                        return Err(TokenError::Corrupt {
                            key: SALT_KEY.into(),
                            reason: format!("salt has {} bytes", s.len()),
                        });
                    }
                    return Ok(Zeroizing::new(s));
                }
                let mut s = Zeroizing::new(vec![0u8; SALT_LEN]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
                self.view.put(SALT_KEY, s.to_vec()).await?;
                Ok(s)
            })
            .await?;
        Ok(salt.as_slice())
    }

    async fn hash(&self, domain: &str, value: &str) -> Result<String, TokenError> {
        let salt = self.salt().await?;
        let mut h = Sha256::new();
        h.update(salt);
        h.update(domain.as_bytes());
        h.update([0u8]);
        h.update(value.as_bytes());
        Ok(hex::encode(h.finalize()))
    }

    async fn hash_id(&self, id: &str) -> Result<String, TokenError> {
        self.hash("id", id).await
    }

    async fn hash_accessor(&self, accessor: &str) -> Result<String, TokenError> {
        self.hash("accessor", accessor).await
    }

    async fn load(&self, hash: &str) -> Result<Option<TokenEntry>, TokenError> {
        let key = id_key(hash);
        match self.view.get(&key).await? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The parent a new token is created under (service or batch child): its salted hash and
    /// record, once it is known, usable and allowed to create tokens; otherwise permission
    /// denied (or why it may not create).
    async fn creating_parent(&self, parent: &str) -> Result<(String, TokenEntry), TokenError> {
        let (parent_hash, parent_entry) = self
            .load_by_id(parent)
            .await?
            .ok_or(TokenError::PermissionDenied)?;
        let Ok(ancestors) = self.usable(&parent_entry, self.now()).await? else {
            return Err(TokenError::PermissionDenied);
        };
        may_create(&parent_entry, ancestors, true)?;
        Ok((parent_hash, parent_entry))
    }

    /// Loads the entry for `token` if the stored id really matches (constant-time).
    async fn load_by_id(&self, token: &str) -> Result<Option<(String, TokenEntry)>, TokenError> {
        if token.is_empty() {
            return Ok(None);
        }
        let hash = self.hash_id(token).await?;
        Ok(self
            .load(&hash)
            .await?
            .filter(|e| bool::from(e.id.as_bytes().ct_eq(token.as_bytes())))
            .map(|e| (hash, e)))
    }

    async fn load_accessor(&self, accessor: &str) -> Result<Option<AccessorEntry>, TokenError> {
        if accessor.is_empty() {
            return Ok(None);
        }
        let key = accessor_key(&self.hash_accessor(accessor).await?);
        match self.view.get(&key).await? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Creates the root token: policies `["root"]`, no TTL, display name `root`. `id` overrides
    /// the generated `hvs.` id (dev mode's fixed root token id).
    pub async fn create_root(&self, id: Option<&str>) -> Result<TokenEntry, TokenError> {
        let now = self.now();
        let entry = TokenEntry {
            id: id.unwrap_or_default().to_owned(),
            policies: vec![ROOT_POLICY.to_owned()],
            display_name: "root".to_owned(),
            creation_time: now,
            renewable: false,
            orphan: true,
            path: "auth/token/root".to_owned(),
            token_type: SERVICE_TYPE.to_owned(),
            ..TokenEntry::default()
        };
        self.create(entry, None).await
    }

    /// Stores a new token built by the caller. An empty `id` or `accessor` is generated. When
    /// `parent` is given it must be a usable token without a use limit, with fewer than
    /// [`MAX_DEPTH`](crate::validity::MAX_DEPTH) ancestors; it becomes the parent and revoking
    /// it revokes this token. Refuses an id already in use.
    ///
    /// An entry whose `token_type` is `batch` is minted as a batch token instead, nothing
    /// stored ([`create_batch`](Self::create_batch)).
    pub async fn create(
        &self,
        mut entry: TokenEntry,
        parent: Option<&str>,
    ) -> Result<TokenEntry, TokenError> {
        if entry.token_type == BATCH_TYPE {
            return self.create_batch(entry, parent).await;
        }
        if parent.is_some_and(is_batch) {
            return Err(TokenError::invalid(batch::NO_CHILDREN));
        }
        if entry.id.is_empty() {
            entry.id = new_token_id();
        }
        if entry.accessor.is_empty() {
            entry.accessor = new_accessor();
        }
        if entry.token_type.is_empty() {
            entry.token_type = SERVICE_TYPE.to_owned();
        }
        let hash = self.hash_id(&entry.id).await?;
        let acc_hash = self.hash_accessor(&entry.accessor).await?;
        let _guard = self.write.lock().await;
        if self.view.get(&id_key(&hash)).await?.is_some() {
            return Err(TokenError::invalid(
                "cannot create a token with a duplicate ID",
            ));
        }
        let mut ops = Vec::with_capacity(4);
        entry.parent = None;
        if let Some(parent) = parent {
            let (parent_hash, _) = self.creating_parent(parent).await?;
            ops.push(Op::Put {
                key: child_key(&parent_hash, &hash),
                value: Vec::new(),
            });
            entry.parent = Some(parent_hash);
        }
        entry.orphan = entry.parent.is_none();
        ops.extend(expiry_put(&entry, &hash));
        ops.push(Op::Put {
            key: accessor_key(&acc_hash),
            value: encode(&AccessorEntry {
                accessor: entry.accessor.clone(),
                token_hash: hash.clone(),
            })?,
        });
        ops.push(Op::Put {
            key: id_key(&hash),
            value: encode(&entry)?,
        });
        self.view.apply(ops).await?;
        Ok(entry)
    }

    /// The usable token `token`, or `None` when unknown, expired, being revoked or a
    /// descendant of such a token (an expired token, or one whose parent is gone, is revoked
    /// on the way, best effort).
    pub async fn lookup(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        if is_batch(token) {
            return self.lookup_batch(token).await;
        }
        let Some((hash, entry)) = self.load_by_id(token).await? else {
            return Ok(None);
        };
        self.live(&hash, entry).await
    }

    /// The usable token behind `accessor`, or `None`.
    pub async fn lookup_accessor(&self, accessor: &str) -> Result<Option<TokenEntry>, TokenError> {
        let Some(acc) = self.load_accessor(accessor).await? else {
            return Ok(None);
        };
        let Some(entry) = self.load(&acc.token_hash).await? else {
            return Ok(None);
        };
        self.live(&acc.token_hash, entry).await
    }

    /// The token `token` as the creator of new tokens (any `auth/token/create*` endpoint):
    /// usable, and without a use limit, which a child would escape. Errors are the API's:
    /// unknown or unusable → "parent token lookup failed: no parent found", use-limited →
    /// "restricted use token cannot generate child tokens" (both invalid requests).
    /// A batch token is refused with "batch tokens cannot create more tokens".
    pub async fn creator(&self, token: &str) -> Result<TokenEntry, TokenError> {
        if is_batch(token) && self.lookup_batch(token).await?.is_some() {
            return Err(TokenError::invalid(batch::NO_CHILDREN));
        }
        let entry = self
            .lookup(token)
            .await?
            .ok_or_else(|| TokenError::invalid("parent token lookup failed: no parent found"))?;
        may_create(&entry, 0, false)?;
        Ok(entry)
    }

    /// Looks `token` up and consumes one use. Returns `None` for unknown and unusable tokens
    /// (expired, being revoked, or with an ancestor that is gone, expired or being revoked).
    /// When the last use is consumed the token (and its children) is revoked before this
    /// returns; the returned entry then shows `num_uses` 0.
    ///
    /// A batch token has no uses to count: it is checked ([`lookup`](Self::lookup)) and
    /// nothing is written.
    ///
    /// No client address is known here: a token bound to CIDR blocks is refused (see
    /// [`authorize_from`](Self::authorize_from)).
    pub async fn authorize(&self, token: &str) -> Result<Option<TokenEntry>, TokenError> {
        self.authorize_from(token, None).await
    }

    /// [`authorize`](Self::authorize) for a request from `remote`: a token bound to CIDR
    /// blocks (`bound_cidrs`) that do not contain `remote` (or with no address known) is
    /// refused like an unknown token, before a use is consumed.
    pub async fn authorize_from(
        &self,
        token: &str,
        remote: Option<std::net::IpAddr>,
    ) -> Result<Option<TokenEntry>, TokenError> {
        if is_batch(token) {
            return Ok(self
                .lookup_batch(token)
                .await?
                .filter(|e| e.allows_addr(remote)));
        }
        // Most tokens have unlimited uses: a usable one changes nothing, so it needs no lock
        // and requests carrying it do not queue behind each other. A token revoked while this
        // request was in flight may still serve it, as if the request had arrived first.
        match self.load_by_id(token).await? {
            None => return Ok(None),
            Some((_, entry)) if !entry.allows_addr(remote) => return Ok(None),
            Some((_, entry)) if entry.num_uses == 0 => {
                if self.usable(&entry, self.now()).await?.is_ok() {
                    return Ok(Some(entry));
                }
            }
            Some(_) => {}
        }
        let _guard = self.write.lock().await;
        let Some((hash, mut entry)) = self.load_by_id(token).await? else {
            return Ok(None);
        };
        if let Err(why) = self.usable(&entry, self.now()).await? {
            if why.revoke_self() {
                self.revoke_tree_locked(&hash).await?;
            }
            return Ok(None);
        }
        if !entry.allows_addr(remote) {
            return Ok(None);
        }
        if entry.num_uses > 0 {
            entry.num_uses -= 1;
            if entry.num_uses == 0 {
                self.revoke_tree_locked(&hash).await?;
            } else {
                self.view.put(&id_key(&hash), encode(&entry)?).await?;
            }
        }
        Ok(Some(entry))
    }

    /// Renews `token` by `increment` seconds from now (0 = its creation TTL; periodic tokens
    /// always get their period), capped by its maximum lifetime. Tokens without a TTL are
    /// returned unchanged. Errors: unknown token → permission denied; not renewable → invalid
    /// request (a batch token: "batch tokens cannot be renewed").
    pub async fn renew(&self, token: &str, increment: u64) -> Result<TokenEntry, TokenError> {
        if is_batch(token) {
            return Err(self
                .batch_refusal(token, "batch tokens cannot be renewed")
                .await?);
        }
        let hash = match self.load_by_id(token).await? {
            Some((hash, _)) => hash,
            None => return Err(TokenError::PermissionDenied),
        };
        self.renew_hash(&hash, increment).await
    }

    /// [`renew`](Self::renew) for the token behind `accessor` (unknown → invalid request).
    pub async fn renew_accessor(
        &self,
        accessor: &str,
        increment: u64,
    ) -> Result<TokenEntry, TokenError> {
        let acc = self
            .load_accessor(accessor)
            .await?
            .ok_or_else(|| TokenError::invalid("invalid accessor"))?;
        self.renew_hash(&acc.token_hash, increment).await
    }

    async fn renew_hash(&self, hash: &str, increment: u64) -> Result<TokenEntry, TokenError> {
        let _guard = self.write.lock().await;
        let now = self.now();
        let Some(mut entry) = self.load(hash).await? else {
            return Err(TokenError::PermissionDenied);
        };
        if let Err(why) = self.usable(&entry, now).await? {
            if why.revoke_self() {
                self.revoke_tree_locked(hash).await?;
            }
            return Err(TokenError::PermissionDenied);
        }
        if entry.expire_time.is_none() {
            return Ok(entry);
        }
        if !entry.renewable {
            return Err(TokenError::invalid("lease is not renewable"));
        }
        let ttl = renewed_ttl(
            RenewRequest {
                creation_time: entry.creation_time,
                creation_ttl: entry.creation_ttl,
                explicit_max_ttl: entry.explicit_max_ttl,
                period: entry.period,
                increment,
                now,
            },
            self.entry_limits(&entry),
        );
        let mut ops = Vec::with_capacity(3);
        if let Some(old) = entry.expire_time {
            ops.push(Op::Delete {
                key: expiry_key(old, hash),
            });
        }
        entry.ttl = ttl;
        entry.expire_time = Some(now.saturating_add(ttl));
        entry.last_renewal_time = Some(now);
        // Applied in order: when the expiry time is unchanged the put restores the key.
        ops.extend(expiry_put(&entry, hash));
        ops.push(Op::Put {
            key: id_key(hash),
            value: encode(&entry)?,
        });
        self.view.apply(ops).await?;
        Ok(entry)
    }

    /// How many tokens are stored (usable or not yet tidied): one listing of the token
    /// records, no reads; its cost grows with the number of tokens, so callers that run it
    /// often should space the calls out.
    pub async fn count(&self) -> Result<usize, TokenError> {
        Ok(self.view.list(ID_PREFIX).await?.len())
    }

    /// Every accessor of a stored token, sorted.
    pub async fn list_accessors(&self) -> Result<Vec<String>, TokenError> {
        let mut out = Vec::new();
        for name in self.view.list(ACCESSOR_PREFIX).await? {
            let key = accessor_key(&name);
            if let Some(bytes) = self.view.get(&key).await? {
                let acc: AccessorEntry = decode(&key, &bytes)?;
                out.push(acc.accessor);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
impl TokenStore {
    /// Whether a record for `token` is stored, usable or not (tests of other modules).
    pub(crate) async fn load_stored_for_tests(&self, token: &str) -> bool {
        matches!(self.load_by_id(token).await, Ok(Some(_)))
    }
}
