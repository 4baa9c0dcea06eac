//! Batch tokens: self-contained, encrypted and authenticated tokens that are never stored.
//!
//! A batch token carries everything a request needs to know about it (policies, times,
//! metadata, parent) sealed with AES-256-GCM under a key the [`BatchKeys`] supply (in a
//! server: derived from the barrier keyring's term keys, so every node of the cluster can
//! open it, and a rotation keeps older tokens valid while the keyring holds their term).
//!
//! Wire form (pure, no I/O here):
//!
//! ```text
//! hvb.<base64url without padding of: [version u8 = 1][term u32 BE][nonce 12][ciphertext][tag 16]>
//! ```
//!
//! The associated data binds the version and term header and a fixed label. The plaintext is
//! a compact JSON [`BatchClaims`]; it is at most [`MAX_CLAIMS_LEN`] bytes, so a token is at
//! most [`MAX_TOKEN_LEN`] characters and anything longer is refused before any decoding.
//! Nothing is parsed before the tag has been checked.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tresor_crypto::{Key32, aead};

use crate::entry::{ROOT_POLICY, TokenEntry};
use crate::error::TokenError;

/// Prefix of batch token ids.
pub const BATCH_PREFIX: &str = "hvb.";

/// The token type of batch tokens.
pub const BATCH_TYPE: &str = "batch";

/// Most bytes of encoded claims (policies, metadata, names) a batch token may carry.
pub const MAX_CLAIMS_LEN: usize = 4096;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const AAD_LABEL: &[u8] = b"tresor batch token v1\0";

/// Longest possible batch token, in characters: the prefix and the base64url form of the
/// header, nonce, tag and [`MAX_CLAIMS_LEN`] bytes of claims.
pub const MAX_TOKEN_LEN: usize =
    BATCH_PREFIX.len() + (HEADER_LEN + aead::OVERHEAD + MAX_CLAIMS_LEN).div_ceil(3) * 4;

/// Supplies the keys batch tokens are sealed with, by term. Implemented by the core over the
/// barrier keyring; [`FixedBatchKeys`] serves tests.
pub trait BatchKeys: Send + Sync + std::fmt::Debug {
    /// The term and key new batch tokens are sealed with; an error while none is available
    /// (sealed).
    fn active(&self) -> Result<(u32, Key32), TokenError>;
    /// The key of `term`, or `None` if it is unknown (or unavailable).
    fn key(&self, term: u32) -> Option<Key32>;
}

/// A fixed set of keys by term, the highest active (tests and tools).
#[derive(Debug, Clone, Default)]
pub struct FixedBatchKeys {
    keys: BTreeMap<u32, Key32>,
}

impl FixedBatchKeys {
    /// One random key at term 1.
    pub fn generate() -> Self {
        let mut k = Self::default();
        k.add(1, Key32::generate());
        k
    }

    /// Adds (or replaces) the key of `term`.
    pub fn add(&mut self, term: u32, key: Key32) {
        self.keys.insert(term, key);
    }

    /// Forgets the key of `term`.
    pub fn remove(&mut self, term: u32) {
        self.keys.remove(&term);
    }
}

impl BatchKeys for FixedBatchKeys {
    fn active(&self) -> Result<(u32, Key32), TokenError> {
        self.keys
            .iter()
            .next_back()
            .map(|(t, k)| (*t, k.clone()))
            .ok_or_else(|| TokenError::Keys("no batch token key".into()))
    }

    fn key(&self, term: u32) -> Option<Key32> {
        self.keys.get(&term).cloned()
    }
}

/// What a batch token carries (short field names keep tokens small).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchClaims {
    /// Policies, sorted.
    #[serde(rename = "p")]
    pub policies: Vec<String>,
    /// Metadata.
    #[serde(rename = "m", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Display name.
    #[serde(rename = "d", default)]
    pub display_name: String,
    /// Issue time, unix seconds.
    #[serde(rename = "c")]
    pub creation_time: u64,
    /// TTL granted at creation, seconds (0 = never expires).
    #[serde(rename = "t", default)]
    pub ttl: u64,
    /// Expiry, unix seconds.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<u64>,
    /// Salted hash of the parent (service) token's id; `None` for orphans.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Accessor of the parent token: a token later created with the same id (custom ids) is
    /// not mistaken for the parent.
    #[serde(rename = "b", default, skip_serializing_if = "String::is_empty")]
    pub parent_accessor: String,
    /// Identity entity.
    #[serde(rename = "e", default, skip_serializing_if = "String::is_empty")]
    pub entity_id: String,
    /// The path the token was created at.
    #[serde(rename = "q", default)]
    pub path: String,
    /// The role it was created against.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// CIDR blocks it may be used from (empty = anywhere).
    #[serde(rename = "n", default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<String>,
}

impl BatchClaims {
    /// The claims of a planned batch token (its `parent` is the parent's salted hash) whose
    /// parent has accessor `parent_accessor` (empty for orphans).
    pub fn of(entry: &TokenEntry, parent_accessor: &str) -> Self {
        Self {
            policies: entry.policies.clone(),
            meta: entry.meta.clone(),
            display_name: entry.display_name.clone(),
            creation_time: entry.creation_time,
            ttl: entry.ttl,
            expire_time: entry.expire_time,
            parent: entry.parent.clone(),
            parent_accessor: parent_accessor.to_owned(),
            entity_id: entry.entity_id.clone(),
            path: entry.path.clone(),
            role: entry.role.clone(),
            bound_cidrs: entry.bound_cidrs.clone(),
        }
    }

    /// The token as lookups and requests see it, with `id` the batch token itself.
    pub fn into_entry(self, id: &str) -> TokenEntry {
        TokenEntry {
            id: id.to_owned(),
            accessor: String::new(),
            orphan: self.parent.is_none(),
            parent: self.parent,
            policies: self.policies,
            meta: self.meta,
            display_name: self.display_name,
            num_uses: 0,
            creation_time: self.creation_time,
            ttl: self.ttl,
            creation_ttl: self.ttl,
            expire_time: self.expire_time,
            explicit_max_ttl: 0,
            period: 0,
            renewable: false,
            path: self.path,
            token_type: BATCH_TYPE.to_owned(),
            entity_id: self.entity_id,
            last_renewal_time: None,
            role: self.role,
            revoking: false,
            bound_cidrs: self.bound_cidrs,
            max_ttl: 0,
            internal: serde_json::Map::new(),
        }
    }
}

/// Whether `token` has the batch token prefix (it may still be invalid).
pub fn is_batch(token: &str) -> bool {
    token.starts_with(BATCH_PREFIX)
}

/// The rules a batch token must satisfy, in the order the API reports them: no use limit, no
/// period, no explicit max TTL, never root.
pub fn check_rules(entry: &TokenEntry) -> Result<(), TokenError> {
    if entry.num_uses > 0 {
        return Err(TokenError::invalid(
            "batch tokens cannot have \"num_uses\" set",
        ));
    }
    if entry.period > 0 {
        return Err(TokenError::invalid(
            "batch tokens cannot have \"period\" set",
        ));
    }
    if entry.explicit_max_ttl > 0 {
        return Err(TokenError::invalid(
            "batch tokens cannot have \"explicit_max_ttl\" set",
        ));
    }
    if entry.policies.iter().any(|p| p == ROOT_POLICY) {
        return Err(TokenError::invalid("batch tokens cannot be root tokens"));
    }
    Ok(())
}

fn aad(header: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_LABEL.len() + header.len());
    a.extend_from_slice(AAD_LABEL);
    a.extend_from_slice(header);
    a
}

/// Seals `claims` under `key` of `term` into a token. Refuses claims larger than
/// [`MAX_CLAIMS_LEN`].
pub fn seal(claims: &BatchClaims, term: u32, key: &Key32) -> Result<String, TokenError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(claims).map_err(|e| TokenError::Keys(format!("encode: {e}")))?,
    );
    if plain.len() > MAX_CLAIMS_LEN {
        return Err(TokenError::invalid(format!(
            "batch token too large: its policies, metadata and names take {} bytes, at most {MAX_CLAIMS_LEN} are allowed",
            plain.len()
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    header[0] = VERSION;
    header[1..].copy_from_slice(&term.to_be_bytes());
    let body = aead::encrypt(key, &aad(&header), &plain)
        .map_err(|e| TokenError::Keys(format!("seal: {e}")))?;
    let mut blob = Vec::with_capacity(HEADER_LEN + body.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&body);
    Ok(format!("{BATCH_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
}

/// Why a batch token did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not a batch token, too long, not base64url, too short or an unknown version.
    Malformed,
    /// Its term's key is not available.
    UnknownTerm,
    /// It failed authentication (forged, tampered, or another cluster's).
    Forged,
}

/// Opens `token` with the keys of `keys`: the claims, or why not. Bounded work for any input:
/// at most [`MAX_TOKEN_LEN`] characters are decoded and nothing is parsed unauthenticated.
pub fn open(token: &str, keys: &dyn BatchKeys) -> Result<BatchClaims, OpenError> {
    let body = token
        .strip_prefix(BATCH_PREFIX)
        .ok_or(OpenError::Malformed)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(OpenError::Malformed);
    }
    let blob = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| OpenError::Malformed)?;
    if blob.len() < HEADER_LEN + aead::OVERHEAD || blob[0] != VERSION {
        return Err(OpenError::Malformed);
    }
    let (header, sealed) = blob.split_at(HEADER_LEN);
    let mut term = [0u8; 4];
    term.copy_from_slice(&header[1..]);
    let key = keys
        .key(u32::from_be_bytes(term))
        .ok_or(OpenError::UnknownTerm)?;
    let plain = aead::decrypt(&key, &aad(header), sealed).map_err(|_| OpenError::Forged)?;
    // Authenticated: we wrote it. A decode failure means a format this build does not know.
    serde_json::from_slice(&plain).map_err(|_| OpenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> BatchClaims {
        BatchClaims {
            policies: vec!["default".into(), "p1".into()],
            meta: BTreeMap::from([("app".into(), "web".into())]),
            display_name: "token-x".into(),
            creation_time: 1000,
            ttl: 3600,
            expire_time: Some(4600),
            parent: Some("ab".repeat(32)),
            parent_accessor: "acc".into(),
            entity_id: String::new(),
            path: "auth/token/create".into(),
            role: None,
            bound_cidrs: Vec::new(),
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let keys = FixedBatchKeys::generate();
        let (term, key) = keys.active().unwrap();
        let t = seal(&claims(), term, &key).unwrap();
        assert!(t.starts_with("hvb."));
        assert!(t.len() <= MAX_TOKEN_LEN);
        assert!(
            t[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(open(&t, &keys).unwrap(), claims());
        let e = open(&t, &keys).unwrap().into_entry(&t);
        assert_eq!(e.token_type, "batch");
        assert_eq!(e.accessor, "");
        assert!(!e.orphan && !e.renewable);
        assert_eq!(e.id, t);
        // Two seals of the same claims differ (random nonce).
        assert_ne!(seal(&claims(), term, &key).unwrap(), t);
    }

    #[test]
    fn tampering_is_detected_anywhere() {
        let keys = FixedBatchKeys::generate();
        let (term, key) = keys.active().unwrap();
        let t = seal(&claims(), term, &key).unwrap();
        let blob = URL_SAFE_NO_PAD.decode(&t[4..]).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            let token = format!("hvb.{}", URL_SAFE_NO_PAD.encode(&bad));
            assert!(
                open(&token, &keys).is_err(),
                "byte {i} flipped must not open"
            );
        }
        // Truncated and extended.
        let short = format!("hvb.{}", URL_SAFE_NO_PAD.encode(&blob[..blob.len() - 1]));
        assert_eq!(open(&short, &keys), Err(OpenError::Forged));
        let mut long = blob.clone();
        long.push(0);
        let long = format!("hvb.{}", URL_SAFE_NO_PAD.encode(&long));
        assert_eq!(open(&long, &keys), Err(OpenError::Forged));
    }

    #[test]
    fn wrong_key_and_unknown_term() {
        let a = FixedBatchKeys::generate();
        let b = FixedBatchKeys::generate();
        let (term, key) = a.active().unwrap();
        let t = seal(&claims(), term, &key).unwrap();
        assert_eq!(open(&t, &b), Err(OpenError::Forged));
        let mut rotated = a.clone();
        rotated.add(2, Key32::generate());
        assert_eq!(rotated.active().unwrap().0, 2);
        assert_eq!(
            open(&t, &rotated).unwrap(),
            claims(),
            "old terms still open"
        );
        rotated.remove(1);
        assert_eq!(open(&t, &rotated), Err(OpenError::UnknownTerm));
    }

    #[test]
    fn size_is_bounded_both_ways() {
        let keys = FixedBatchKeys::generate();
        let (term, key) = keys.active().unwrap();
        let mut big = claims();
        big.meta.insert("k".into(), "v".repeat(MAX_CLAIMS_LEN));
        assert!(matches!(
            seal(&big, term, &key),
            Err(TokenError::InvalidRequest(m)) if m.contains("too large")
        ));
        // The largest allowed claims fit in MAX_TOKEN_LEN.
        let mut fit = BatchClaims {
            creation_time: 1,
            ..BatchClaims::default()
        };
        let base = serde_json::to_vec(&fit).unwrap().len();
        fit.display_name = "x".repeat(MAX_CLAIMS_LEN - base);
        assert_eq!(serde_json::to_vec(&fit).unwrap().len(), MAX_CLAIMS_LEN);
        let t = seal(&fit, term, &key).unwrap();
        assert!(t.len() <= MAX_TOKEN_LEN, "{} > {MAX_TOKEN_LEN}", t.len());
        assert_eq!(open(&t, &keys).unwrap(), fit);
        let huge = format!("hvb.{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(open(&huge, &keys), Err(OpenError::Malformed));
    }

    #[test]
    fn malformed_inputs() {
        let keys = FixedBatchKeys::generate();
        for t in ["", "hvb.", "hvb.!!!", "hvs.abc", "hvb.AAAA", "hvb.AAAAAQ=="] {
            assert_eq!(open(t, &keys), Err(OpenError::Malformed), "{t:?}");
        }
    }

    #[test]
    fn rules() {
        let ok = TokenEntry {
            policies: vec!["default".into()],
            ..TokenEntry::default()
        };
        assert!(check_rules(&ok).is_ok());
        for (bad, msg) in [
            (
                TokenEntry {
                    num_uses: 1,
                    ..ok.clone()
                },
                "num_uses",
            ),
            (
                TokenEntry {
                    period: 1,
                    ..ok.clone()
                },
                "period",
            ),
            (
                TokenEntry {
                    explicit_max_ttl: 1,
                    ..ok.clone()
                },
                "explicit_max_ttl",
            ),
            (
                TokenEntry {
                    policies: vec!["root".into()],
                    ..ok.clone()
                },
                "root",
            ),
        ] {
            assert!(
                matches!(check_rules(&bad), Err(TokenError::InvalidRequest(m)) if m.contains(msg))
            );
        }
    }
}
