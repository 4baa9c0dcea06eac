//! The public checker: split by key, search each key, and explain the first anomaly.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::LinError;
use crate::history::{History, OpRecord, Outcome, Paired};
use crate::model::{KeyedOp, Model};
use crate::wgl::{Search, search};

/// Limits of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps allowed per key (and per search while minimizing an anomaly). When it
    /// runs out the result is [`CheckResult::Unknown`].
    pub max_steps: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            max_steps: 2_000_000,
        }
    }
}

/// A proof-carrying report of a non-linearizable key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly<O, S> {
    /// The key whose history has no linearization.
    pub key: String,
    /// The acknowledged operation whose completion first makes the history impossible:
    /// the history up to just before it is linearizable, up to and including it is not.
    pub culprit: OpRecord<O>,
    /// The operations around the culprit, in invocation order: the last operation
    /// acknowledged before the culprit was invoked, every operation concurrent with the
    /// culprit, and the culprit itself.
    pub window: Vec<OpRecord<O>>,
    /// States the key could have been in when the culprit took effect, none of which the
    /// model accepts for it (at most a few are kept).
    pub rejected_states: Vec<S>,
    /// A human-readable account of the above.
    pub explanation: String,
}

/// The verdict of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult<O, S> {
    /// Every key's history has a linearization.
    Linearizable,
    /// Some key's history has none; the first such key (in key order) is reported.
    NotLinearizable(Box<Anomaly<O, S>>),
    /// The step budget ran out on `key` before a verdict (no other key failed).
    Unknown {
        /// The key whose search was cut short.
        key: String,
        /// The budget that was spent.
        steps: u64,
    },
}

impl<O, S> CheckResult<O, S> {
    /// Whether the history was proven linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, CheckResult::Linearizable)
    }
}

impl<O: fmt::Debug, S: fmt::Debug> fmt::Display for CheckResult<O, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Linearizable => write!(f, "linearizable"),
            CheckResult::Unknown { key, steps } => {
                write!(f, "unknown: search on key {key:?} exceeded {steps} steps")
            }
            CheckResult::NotLinearizable(a) => {
                writeln!(f, "NOT linearizable: {}", a.explanation)?;
                writeln!(f, "window:")?;
                for r in &a.window {
                    writeln!(f, "  {}", describe(r))?;
                }
                Ok(())
            }
        }
    }
}

fn describe<O: fmt::Debug>(r: &OpRecord<O>) -> String {
    let end = match (r.outcome, r.completed_ns) {
        (Outcome::Ok, Some(t)) => format!("ok at {t}ns"),
        _ => "outcome unknown".to_string(),
    };
    format!(
        "process {} {:?} invoked at {}ns, {end}",
        r.process, r.op, r.invoked_ns
    )
}

/// Checks `history` against `model` with the default budget.
pub fn check<M: Model>(
    history: &History<M::Op>,
    model: &M,
) -> Result<CheckResult<M::Op, M::State>, LinError> {
    check_with(history, model, CheckOptions::default())
}

/// Checks `history` against `model`, each key independently, within `options`.
///
/// Fails only if the history itself is malformed (see [`LinError`]).
pub fn check_with<M: Model>(
    history: &History<M::Op>,
    model: &M,
    options: CheckOptions,
) -> Result<CheckResult<M::Op, M::State>, LinError> {
    let mut by_key: BTreeMap<String, Vec<Paired<M::Op>>> = BTreeMap::new();
    for p in history.pair()? {
        // An unknown read changes nothing and observed nothing: it cannot matter.
        if p.record.outcome == Outcome::Unknown && p.record.op.is_read_only() {
            continue;
        }
        by_key
            .entry(p.record.op.key().to_string())
            .or_default()
            .push(p);
    }
    let mut unknown = None;
    for (key, ops) in &by_key {
        match search(model, ops, options.max_steps, None) {
            Search::Linearizable => {}
            Search::Exhausted { steps } => {
                unknown.get_or_insert_with(|| CheckResult::Unknown {
                    key: key.clone(),
                    steps,
                });
            }
            Search::NotLinearizable { .. } => {
                let anomaly = explain(model, key, ops, options.max_steps);
                return Ok(CheckResult::NotLinearizable(Box::new(anomaly)));
            }
        }
    }
    Ok(unknown.unwrap_or(CheckResult::Linearizable))
}

/// The operations of the history cut just before event position `end`: later invocations
/// are dropped, operations completing later become unknown.
fn prefix<O: Clone>(ops: &[Paired<O>], end: usize) -> Vec<Paired<O>> {
    ops.iter()
        .filter(|p| p.call < end)
        .map(|p| {
            let mut p = p.clone();
            if p.ret.is_some_and(|r| r >= end) {
                p.ret = None;
                p.record.outcome = Outcome::Unknown;
            }
            p
        })
        .collect()
}

/// Finds the shortest non-linearizable prefix of a failing key history and describes it.
///
/// Cutting a history only removes constraints, so "the prefix up to event p fails" is
/// monotone in p and a binary search over the acknowledgements finds the first one that
/// cannot be explained.
fn explain<M: Model>(
    model: &M,
    key: &str,
    ops: &[Paired<M::Op>],
    budget: u64,
) -> Anomaly<M::Op, M::State> {
    let mut returns: Vec<usize> = ops.iter().filter_map(|p| p.ret).collect();
    returns.sort_unstable();
    let fails = |end: usize| {
        matches!(
            search(model, &prefix(ops, end), budget, None),
            Search::NotLinearizable { .. }
        )
    };
    // The whole history fails, so the last acknowledgement is a valid upper bound.
    let (mut lo, mut hi) = (0, returns.len().saturating_sub(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(returns[mid] + 1) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let culprit_ret = returns.get(hi).copied().unwrap_or(usize::MAX);
    let cut = prefix(ops, culprit_ret.saturating_add(1));
    let watch = cut.iter().position(|p| p.ret == Some(culprit_ret));
    let rejected = match search(model, &cut, budget, watch) {
        Search::NotLinearizable { rejected } => rejected,
        Search::Linearizable | Search::Exhausted { .. } => Vec::new(),
    };
    let culprit_idx = ops.iter().position(|p| p.ret == Some(culprit_ret));
    let Some(culprit) = culprit_idx.map(|i| &ops[i]) else {
        // Unreachable for a failing history (an empty one is linearizable); stay total.
        return Anomaly {
            key: key.to_string(),
            culprit: ops[0].record.clone(),
            window: ops.iter().map(|p| p.record.clone()).collect(),
            rejected_states: rejected,
            explanation: format!("key {key:?}: no linearization exists"),
        };
    };
    let window = window_around(ops, culprit, culprit_ret);
    let explanation = if rejected.is_empty() {
        format!(
            "key {key:?}: no order of the operations up to {} respects real time and the model",
            describe(&culprit.record)
        )
    } else {
        format!(
            "key {key:?}: {} cannot take effect: in every order of the earlier and concurrent \
             operations that respects real time, the key is in one of the states {:?} when it \
             could apply, and the model refuses it in each",
            describe(&culprit.record),
            rejected
        )
    };
    Anomaly {
        key: key.to_string(),
        culprit: culprit.record.clone(),
        window,
        rejected_states: rejected,
        explanation,
    }
}

/// The culprit, the operations concurrent with it, and the last acknowledgement before it.
fn window_around<O: Clone>(
    ops: &[Paired<O>],
    culprit: &Paired<O>,
    culprit_ret: usize,
) -> Vec<OpRecord<O>> {
    let before = ops
        .iter()
        .filter(|p| p.ret.is_some_and(|r| r < culprit.call))
        .max_by_key(|p| p.ret);
    let mut picked: Vec<&Paired<O>> = ops
        .iter()
        .filter(|p| p.call < culprit_ret && p.ret.is_none_or(|r| r > culprit.call))
        .chain(before)
        .collect();
    picked.sort_by_key(|p| p.call);
    picked.dedup_by_key(|p| p.call);
    picked.into_iter().map(|p| p.record.clone()).collect()
}
