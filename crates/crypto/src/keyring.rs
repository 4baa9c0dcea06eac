//! The barrier's keyring: one data key per term, the highest term active.
//!
//! Serialized form (JSON, always encrypted before it is stored):
//!
//! ```json
//! {"active_term":2,"keys":[
//!   {"term":1,"key":"<base64 std, 32 bytes>","install_time":"2026-01-02T03:04:05.123456789Z"},
//!   {"term":2,"key":"...","install_time":"..."}]}
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, Key32};

/// One data key and the term it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermKey {
    /// The term number (1 for the first key, incremented on every rotation).
    pub term: u32,
    /// The data key of this term.
    pub key: Key32,
    /// When this term was installed.
    pub install_time: OffsetDateTime,
}

impl TermKey {
    /// The install time as RFC 3339 with nanoseconds (trailing zeros trimmed), UTC.
    pub fn install_time_rfc3339(&self) -> String {
        format_time(self.install_time)
    }
}

/// All data keys the barrier has ever used, so values written under an old term stay
/// readable, and the active term used for new writes. Invariant: the active term is present
/// and is the highest term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    active_term: u32,
    keys: BTreeMap<u32, TermKey>,
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyring {
    /// A keyring with a single fresh key at term 1.
    pub fn new() -> Self {
        Self::with_first_key(Key32::generate())
    }

    /// A keyring with `key` at term 1.
    pub fn with_first_key(key: Key32) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(
            1,
            TermKey {
                term: 1,
                key,
                install_time: now(),
            },
        );
        Keyring {
            active_term: 1,
            keys,
        }
    }

    /// Adds a fresh key at the next term (highest term + 1) and makes it active. Returns the
    /// new term.
    pub fn rotate(&mut self) -> u32 {
        let term = self.max_term().saturating_add(1);
        self.keys.insert(
            term,
            TermKey {
                term,
                key: Key32::generate(),
                install_time: now(),
            },
        );
        self.active_term = term;
        term
    }

    /// The key new writes use.
    pub fn active(&self) -> &TermKey {
        // The invariant guarantees presence; fall back to the highest term regardless.
        self.keys
            .get(&self.active_term)
            .or_else(|| self.keys.values().next_back())
            .unwrap_or_else(|| unreachable!("a keyring always holds at least one key"))
    }

    /// The active term number.
    pub fn active_term(&self) -> u32 {
        self.active_term
    }

    /// The key of `term`, if this keyring has it.
    pub fn get(&self, term: u32) -> Option<&TermKey> {
        self.keys.get(&term)
    }

    /// All terms, ascending.
    pub fn terms(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    fn max_term(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// The JSON form described in the module docs. Contains every key in the clear: encrypt it
    /// before storing; the buffer is zeroized when dropped.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let wire = KeyringWire {
            active_term: self.active_term,
            keys: self
                .keys
                .values()
                .map(|k| TermKeyWire {
                    term: k.term,
                    key: STANDARD.encode(k.key.as_bytes()),
                    install_time: format_time(k.install_time),
                })
                .collect(),
        };
        serde_json::to_vec(&wire)
            .map(Zeroizing::new)
            .map_err(|e| CryptoError::Keyring(e.to_string()))
    }

    /// Parses [`Keyring::to_bytes`] output and checks its invariants.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let wire: KeyringWire = serde_json::from_slice(bytes)
            .map_err(|e| CryptoError::Keyring(format!("malformed keyring: {e}")))?;
        let mut keys = BTreeMap::new();
        for entry in &wire.keys {
            if entry.term == 0 {
                return Err(CryptoError::Keyring("term 0 is reserved".into()));
            }
            let raw = Zeroizing::new(
                STANDARD
                    .decode(&entry.key)
                    .map_err(|_| CryptoError::Keyring(format!("term {}: bad key", entry.term)))?,
            );
            let key = Key32::from_slice(&raw)
                .map_err(|e| CryptoError::Keyring(format!("term {}: {e}", entry.term)))?;
            let install_time = OffsetDateTime::parse(&entry.install_time, &Rfc3339)
                .map_err(|e| CryptoError::Keyring(format!("term {}: {e}", entry.term)))?;
            let previous = keys.insert(
                entry.term,
                TermKey {
                    term: entry.term,
                    key,
                    install_time,
                },
            );
            if previous.is_some() {
                return Err(CryptoError::Keyring(format!(
                    "term {} appears twice",
                    entry.term
                )));
            }
        }
        let ring = Keyring {
            active_term: wire.active_term,
            keys,
        };
        if ring.keys.is_empty() {
            return Err(CryptoError::Keyring("no keys".into()));
        }
        if ring.active_term != ring.max_term() {
            return Err(CryptoError::Keyring(format!(
                "active term {} is not the highest term {}",
                ring.active_term,
                ring.max_term()
            )));
        }
        Ok(ring)
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyringWire {
    active_term: u32,
    keys: Vec<TermKeyWire>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct TermKeyWire {
    term: u32,
    key: String,
    install_time: String,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn format_time(t: OffsetDateTime) -> String {
    // Formatting a UTC time with a four-digit year cannot fail; keep a readable fallback.
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rotate_get() {
        let mut ring = Keyring::new();
        assert_eq!(ring.active_term(), 1);
        assert_eq!(ring.active().term, 1);
        let first = ring.active().key.clone();
        assert_eq!(ring.rotate(), 2);
        assert_eq!(ring.rotate(), 3);
        assert_eq!(ring.active().term, 3);
        assert_eq!(ring.get(1).unwrap().key, first);
        assert_ne!(ring.get(2).unwrap().key, first);
        assert!(ring.get(4).is_none());
        assert_eq!(ring.terms().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn serialization_round_trips() {
        let mut ring = Keyring::new();
        ring.rotate();
        let bytes = ring.to_bytes().unwrap();
        let back = Keyring::from_bytes(&bytes).unwrap();
        assert_eq!(back, ring);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["active_term"], 2);
        assert_eq!(json["keys"].as_array().unwrap().len(), 2);
        let key_b64 = json["keys"][0]["key"].as_str().unwrap();
        assert_eq!(
            STANDARD.decode(key_b64).unwrap(),
            ring.get(1).unwrap().key.as_bytes()
        );
    }

    #[test]
    fn install_time_has_nanoseconds() {
        let mut ring = Keyring::new();
        ring.keys.get_mut(&1).unwrap().install_time =
            time::macros::datetime!(2026-01-02 03:04:05.123456789 UTC);
        assert_eq!(
            ring.active().install_time_rfc3339(),
            "2026-01-02T03:04:05.123456789Z"
        );
    }

    #[test]
    fn invariants_are_checked_on_load() {
        let key = STANDARD.encode([1u8; 32]);
        let t = "2026-01-02T03:04:05Z";
        let good = format!(
            r#"{{"active_term":1,"keys":[{{"term":1,"key":"{key}","install_time":"{t}"}}]}}"#
        );
        assert!(Keyring::from_bytes(good.as_bytes()).is_ok());
        let cases = [
            format!(
                r#"{{"active_term":2,"keys":[{{"term":1,"key":"{key}","install_time":"{t}"}}]}}"#
            ),
            r#"{"active_term":1,"keys":[]}"#.to_owned(),
            format!(
                r#"{{"active_term":0,"keys":[{{"term":0,"key":"{key}","install_time":"{t}"}}]}}"#
            ),
            format!(
                r#"{{"active_term":1,"keys":[{{"term":1,"key":"AAAA","install_time":"{t}"}}]}}"#
            ),
            format!(
                r#"{{"active_term":1,"keys":[{{"term":1,"key":"{key}","install_time":"yesterday"}}]}}"#
            ),
            format!(
                r#"{{"active_term":1,"keys":[{{"term":1,"key":"{key}","install_time":"{t}"}},{{"term":1,"key":"{key}","install_time":"{t}"}}]}}"#
            ),
            "not json".to_owned(),
        ];
        for case in cases {
            assert!(
                matches!(
                    Keyring::from_bytes(case.as_bytes()),
                    Err(CryptoError::Keyring(_))
                ),
                "{case}"
            );
        }
    }
}
