//! The sequential specification an operation history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// An operation that touches exactly one key, so that histories can be checked per key.
///
/// Checking each key on its own is sound and complete when keys are independent objects
/// (linearizability is compositional), and it keeps the search small.
pub trait KeyedOp {
    /// The key the operation reads or writes.
    fn key(&self) -> &str;

    /// Whether the operation never changes the state. An unknown (crashed) read-only
    /// operation constrains nothing and is dropped before the search.
    fn is_read_only(&self) -> bool {
        false
    }
}

/// A sequential object: a start state and a transition function.
///
/// `step` returns the state after applying `op` to `state`, or `None` when the observed
/// result recorded in `op` (a read value, a returned version) is impossible in `state`.
pub trait Model {
    /// The state of one key.
    type State: Clone + Eq + Hash + Debug;
    /// The operations, carrying both their arguments and their observed results.
    type Op: KeyedOp + Clone + Debug;

    /// The state of a key nobody has written yet.
    fn init(&self) -> Self::State;

    /// Applies `op` to `state`; `None` if the op's recorded outcome cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}
