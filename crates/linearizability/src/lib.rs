//! Jepsen-style history checking for Tresor's HA tests.
//!
//! Concurrent clients report every KV operation to a [`Recorder`]: an `invoke` event before
//! the request is sent and a completion after — `ok` (it happened, with the observed result),
//! `fail` (it certainly did not happen) or `info` (nobody knows: timeout, reset connection,
//! leader lost). Meanwhile the harness injects the faults of a seeded [`FaultSchedule`] and
//! prints its one-line form, which [`FaultSchedule::parse`] reads back to replay a failure.
//! Afterwards [`check`] decides whether the recorded [`History`] is *linearizable*: whether
//! every acknowledged operation can be given a single instant, between its invocation and
//! its completion, such that executing the operations one by one in the order of those
//! instants against a sequential [`Model`] yields exactly the results the clients saw.
//!
//! # Models
//!
//! A [`Model`] is a start state plus a `step` function that either returns the next state or
//! rejects an operation whose recorded result is impossible. [`RegisterModel`] is a plain
//! register per key (write, read, compare-and-set on the value); [`VersionedKvModel`] follows
//! KV v2 (each write creates the next version, check-and-set compares versions, 0 meaning
//! "must not exist").
//!
//! # How the check works
//!
//! **Per key.** Keys are independent objects, and a history is linearizable exactly when the
//! sub-history of every object is (linearizability is compositional). So the events are
//! grouped by key and each group is searched on its own; this turns one exponential search
//! over everything into many small ones.
//!
//! **Pairing.** Events are paired by process into operations. `fail`ed operations are removed:
//! they had no effect and saw nothing (a refused check-and-set is therefore recorded as
//! `fail`). Operations that completed with `info`, or never completed, are *unknown*: they
//! may have taken effect at any moment after their invocation — possibly long after the
//! client gave up — or not at all. An unknown read is dropped outright because it changed
//! nothing and its result was never seen.
//!
//! **Search (Wing & Gong, with Lowe's memoization).** The invocations and acknowledgements
//! of one key are laid out in real-time order in a doubly linked list. The search walks the
//! list from the front, trying to pick the next operation to linearize:
//!
//! - On an invocation, it asks the model to apply that operation to the current state. If the
//!   model accepts, and the pair (set of operations linearized so far, resulting state) was
//!   never reached before, the choice is pushed on a stack, the operation's invocation and
//!   acknowledgement are unlinked from the list, and the walk restarts from the front.
//!   Otherwise it moves on to the next entry: another operation that is concurrent with
//!   everything before it.
//! - On an acknowledgement, the operation it belongs to has not been linearized although its
//!   response already happened, so the current prefix of choices is a dead end: the last
//!   choice is popped, its entries are linked back in place (removals are undone in reverse
//!   order, so the list is restored exactly), and the walk resumes just after it.
//! - When no acknowledged operation is left, the history is linearizable; unknown operations
//!   still in the list are taken not to have happened. When the stack is empty and the walk
//!   hits an acknowledgement, no linearization exists.
//!
//! The memo set is what keeps this tractable: two different orders that linearize the same
//! set of operations and end in the same state have the same future, so only the first is
//! explored. Every search counts its steps and gives up with [`CheckResult::Unknown`] once
//! [`CheckOptions::max_steps`] is spent, so a pathological history cannot hang a test.
//!
//! **Explaining a failure.** Cutting a history short only removes constraints (operations
//! acknowledged after the cut become unknown), so if a prefix has no linearization neither
//! has any longer one. A binary search over the acknowledgements finds the shortest failing
//! prefix; the operation acknowledged last in it is the *culprit*. The report names it, the
//! operations concurrent with it and the last one acknowledged before it, and lists the
//! states the key could have been in where the culprit might apply — each of which the model
//! refuses (for a stale read: the value of the newer acknowledged write).

mod bitset;
mod check;
mod error;
mod history;
mod model;
mod recorder;
mod register;
mod schedule;
mod versioned_kv;
mod wgl;

pub use check::{Anomaly, CheckOptions, CheckResult, check, check_with};
pub use error::LinError;
pub use history::{Event, EventKind, History, OpRecord, Outcome};
pub use model::{KeyedOp, Model};
pub use recorder::Recorder;
pub use register::{Op, RegisterModel, Value};
pub use schedule::{Fault, FaultSchedule, ScheduleConfig, TimedFault};
pub use versioned_kv::{KvOp, KvState, VersionedKvModel};
