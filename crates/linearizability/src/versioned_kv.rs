//! A versioned key/value model with KV v2 semantics: every write creates the next version,
//! check-and-set compares against the current version (0: the key must not exist).

use serde::{Deserialize, Serialize};

use crate::model::{KeyedOp, Model};
use crate::register::Value;

/// An operation on a KV v2 secret. Versions returned by the server are filled in on
/// completion; `None` means "not known" (the invocation, or a crashed request).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOp {
    /// An unconditional write of `value`; `version` is the version the server reported.
    Write {
        /// The secret path.
        key: String,
        /// The data written.
        value: Value,
        /// The version created, if known.
        version: Option<u64>,
    },
    /// A read of the current version; `current` is `(version, value)` or `None` if absent.
    Read {
        /// The secret path.
        key: String,
        /// What the read returned.
        current: Option<(u64, Value)>,
    },
    /// A write that only happens if the current version is `expected_version`
    /// (0: the key must not exist). Recorded as `Ok` only when it was accepted.
    Cas {
        /// The secret path.
        key: String,
        /// The version the secret must be at.
        expected_version: u64,
        /// The data written.
        value: Value,
        /// The version created, if known.
        version: Option<u64>,
    },
}

impl KeyedOp for KvOp {
    fn key(&self) -> &str {
        match self {
            KvOp::Write { key, .. } | KvOp::Read { key, .. } | KvOp::Cas { key, .. } => key,
        }
    }

    fn is_read_only(&self) -> bool {
        matches!(self, KvOp::Read { .. })
    }
}

/// The state of one secret: its latest version number (0: never written) and its data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct KvState {
    /// The current version; 0 when the key does not exist.
    pub version: u64,
    /// The data of the current version.
    pub value: Option<Value>,
}

/// KV v2 as a sequential object: versions start at 1 and grow by one per accepted write.
#[derive(Clone, Copy, Debug, Default)]
pub struct VersionedKvModel;

impl VersionedKvModel {
    fn write(state: &KvState, value: &Value, reported: Option<u64>) -> Option<KvState> {
        let next = state.version.checked_add(1)?;
        if reported.is_some_and(|v| v != next) {
            return None;
        }
        Some(KvState {
            version: next,
            value: Some(value.clone()),
        })
    }
}

impl Model for VersionedKvModel {
    type State = KvState;
    type Op = KvOp;

    fn init(&self) -> KvState {
        KvState::default()
    }

    fn step(&self, state: &KvState, op: &KvOp) -> Option<KvState> {
        match op {
            KvOp::Write { value, version, .. } => Self::write(state, value, *version),
            KvOp::Read { current, .. } => {
                let observed = match current {
                    None => state.version == 0,
                    Some((v, val)) => *v == state.version && state.value.as_ref() == Some(val),
                };
                observed.then(|| state.clone())
            }
            KvOp::Cas {
                expected_version,
                value,
                version,
                ..
            } => {
                if *expected_version != state.version {
                    return None;
                }
                Self::write(state, value, *version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_by_one() {
        let m = VersionedKvModel;
        let w1 = KvOp::Write {
            key: "k".into(),
            value: "a".into(),
            version: Some(1),
        };
        let s1 = m.step(&m.init(), &w1).unwrap();
        assert_eq!(
            s1,
            KvState {
                version: 1,
                value: Some("a".into())
            }
        );
        // A write claiming version 3 after version 1 is impossible.
        let bad = KvOp::Write {
            key: "k".into(),
            value: "b".into(),
            version: Some(3),
        };
        assert_eq!(m.step(&s1, &bad), None);
        let unknown = KvOp::Write {
            key: "k".into(),
            value: "b".into(),
            version: None,
        };
        assert_eq!(m.step(&s1, &unknown).map(|s| s.version), Some(2));
    }

    #[test]
    fn cas_and_read_check_versions() {
        let m = VersionedKvModel;
        let create = KvOp::Cas {
            key: "k".into(),
            expected_version: 0,
            value: "a".into(),
            version: Some(1),
        };
        let s1 = m.step(&m.init(), &create).unwrap();
        assert_eq!(m.step(&s1, &create), None);
        let read = KvOp::Read {
            key: "k".into(),
            current: Some((1, "a".into())),
        };
        assert_eq!(m.step(&s1, &read), Some(s1.clone()));
        let stale = KvOp::Read {
            key: "k".into(),
            current: None,
        };
        assert_eq!(m.step(&s1, &stale), None);
        assert_eq!(m.step(&m.init(), &stale), Some(KvState::default()));
    }
}
