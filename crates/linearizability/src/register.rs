//! A plain read/write/compare-and-set register per key.

use serde::{Deserialize, Serialize};

use crate::model::{KeyedOp, Model};

/// A value stored in a register.
pub type Value = String;

/// An operation on a per-key register. The result of a read is filled in on completion;
/// at invocation the read value is not known and is ignored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Set `key` to `value`.
    Write {
        /// The key written.
        key: String,
        /// The value written.
        value: Value,
    },
    /// Read `key`; `value` is what the read returned (`None`: the key did not exist).
    Read {
        /// The key read.
        key: String,
        /// The value observed, `None` when the key was absent.
        value: Option<Value>,
    },
    /// Set `key` to `new` only if its current value is `expected` (`None`: key absent).
    /// Recorded as `Ok` only when the swap happened; a refused swap is recorded as `Fail`.
    Cas {
        /// The key swapped.
        key: String,
        /// The value the key must hold for the swap to happen.
        expected: Option<Value>,
        /// The value written by a successful swap.
        new: Value,
    },
}

impl KeyedOp for Op {
    fn key(&self) -> &str {
        match self {
            Op::Write { key, .. } | Op::Read { key, .. } | Op::Cas { key, .. } => key,
        }
    }

    fn is_read_only(&self) -> bool {
        matches!(self, Op::Read { .. })
    }
}

/// The register model: the state of a key is its current value, or `None` if never written.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type State = Option<Value>;
    type Op = Op;

    fn init(&self) -> Self::State {
        None
    }

    fn step(&self, state: &Self::State, op: &Op) -> Option<Self::State> {
        match op {
            Op::Write { value, .. } => Some(Some(value.clone())),
            Op::Read { value, .. } => (value == state).then(|| state.clone()),
            Op::Cas { expected, new, .. } => (expected == state).then(|| Some(new.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &str) -> Op {
        Op::Write {
            key: "k".into(),
            value: v.into(),
        }
    }

    #[test]
    fn write_then_read_sees_value() {
        let m = RegisterModel;
        let s = m.step(&m.init(), &w("a")).unwrap();
        assert_eq!(s, Some("a".to_string()));
        let read_a = Op::Read {
            key: "k".into(),
            value: Some("a".into()),
        };
        let read_none = Op::Read {
            key: "k".into(),
            value: None,
        };
        assert_eq!(m.step(&s, &read_a), Some(s.clone()));
        assert_eq!(m.step(&s, &read_none), None);
        assert_eq!(m.step(&m.init(), &read_none), Some(None));
    }

    #[test]
    fn cas_requires_expected_value() {
        let m = RegisterModel;
        let cas = Op::Cas {
            key: "k".into(),
            expected: Some("a".into()),
            new: "b".into(),
        };
        assert_eq!(m.step(&None, &cas), None);
        assert_eq!(m.step(&Some("a".into()), &cas), Some(Some("b".into())));
        let create = Op::Cas {
            key: "k".into(),
            expected: None,
            new: "x".into(),
        };
        assert_eq!(m.step(&None, &create), Some(Some("x".into())));
        assert_eq!(m.step(&Some("a".into()), &create), None);
    }
}
