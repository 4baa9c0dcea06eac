//! The search itself: Wing & Gong's backtracking with Lowe's memoization, on one key.

use std::collections::HashSet;

use crate::bitset::BitSet;
use crate::history::{Outcome, Paired};
use crate::model::Model;

/// What the search concluded about one key's operations.
#[derive(Debug)]
pub(crate) enum Search<S> {
    /// A linearization exists.
    Linearizable,
    /// None exists. `rejected` holds (up to a few) states in which the watched op was tried
    /// and refused by the model.
    NotLinearizable { rejected: Vec<S> },
    /// The step budget ran out.
    Exhausted { steps: u64 },
}

const MAX_REJECTED: usize = 8;

/// One node of the doubly linked list of call/return entries.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: the node of its return, if the op has one.
    ret_node: Option<usize>,
}

/// The call/return entries in history order, as a doubly linked list with sentinels
/// (`0` is the head, `len - 1` the tail) so removals can be undone in LIFO order.
struct EntryList {
    entries: Vec<Entry>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl EntryList {
    fn build<O>(ops: &[Paired<O>]) -> Self {
        let mut points: Vec<(usize, usize, bool)> = Vec::with_capacity(ops.len() * 2);
        for (i, p) in ops.iter().enumerate() {
            points.push((p.call, i, true));
            if let Some(r) = p.ret {
                points.push((r, i, false));
            }
        }
        points.sort_unstable();
        let sentinel = Entry {
            op: usize::MAX,
            is_call: false,
            ret_node: None,
        };
        let mut entries = vec![sentinel];
        let mut ret_node_of = vec![None; ops.len()];
        for &(_, op, is_call) in &points {
            if !is_call {
                ret_node_of[op] = Some(entries.len());
            }
            entries.push(Entry {
                op,
                is_call,
                ret_node: None,
            });
        }
        entries.push(sentinel);
        for e in entries.iter_mut().filter(|e| e.is_call) {
            e.ret_node = ret_node_of[e.op];
        }
        let n = entries.len();
        let next = (0..n).map(|i| (i + 1).min(n - 1)).collect();
        let prev = (0..n).map(|i| i.saturating_sub(1)).collect();
        Self {
            entries,
            next,
            prev,
        }
    }

    fn head(&self) -> usize {
        0
    }

    fn tail(&self) -> usize {
        self.entries.len() - 1
    }

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = x;
        self.prev[x] = p;
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = n;
        self.prev[x] = n;
    }

    /// Removes a call and its return from the list (the op is linearized).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Some(r) = self.entries[call].ret_node {
            self.unlink(r);
        }
    }

    /// Undoes [`EntryList::lift`]; must be called in reverse order of lifts.
    fn unlift(&mut self, call: usize) {
        if let Some(r) = self.entries[call].ret_node {
            self.relink(r);
        }
        self.relink(call);
    }
}

/// Searches for a linearization of `ops` (all on one key) under `model`.
///
/// Acknowledged ops must all be linearized between their call and return; unknown ops
/// (no return entry) may be linearized anywhere after their call, or left out. `watch` names
/// an op whose refused states are collected for the explanation.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Paired<M::Op>],
    budget: u64,
    watch: Option<usize>,
) -> Search<M::State> {
    let mut list = EntryList::build(ops);
    let mut remaining_ok = ops
        .iter()
        .filter(|p| p.record.outcome == Outcome::Ok)
        .count();
    let mut state = model.init();
    let mut linearized = BitSet::with_len(ops.len());
    let mut seen: HashSet<(BitSet, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut rejected: Vec<M::State> = Vec::new();
    let mut steps: u64 = 0;
    let mut entry = list.next[list.head()];

    loop {
        if remaining_ok == 0 {
            return Search::Linearizable;
        }
        steps += 1;
        if steps > budget {
            return Search::Exhausted { steps: budget };
        }
        let at_call = entry != list.tail() && list.entries[entry].is_call;
        if at_call {
            let op = list.entries[entry].op;
            match model.step(&state, &ops[op].record.op) {
                Some(next_state) => {
                    let mut lin = linearized.clone();
                    lin.insert(op);
                    if seen.insert((lin.clone(), next_state.clone())) {
                        stack.push((entry, std::mem::replace(&mut state, next_state)));
                        linearized = lin;
                        list.lift(entry);
                        if ops[op].record.outcome == Outcome::Ok {
                            remaining_ok -= 1;
                        }
                        entry = list.next[list.head()];
                        continue;
                    }
                }
                None => {
                    if watch == Some(op)
                        && rejected.len() < MAX_REJECTED
                        && !rejected.contains(&state)
                    {
                        rejected.push(state.clone());
                    }
                }
            }
            entry = list.next[entry];
            continue;
        }
        // A return entry (or the end): the op it belongs to was not linearized in time.
        // Undo the most recent choice and try the next candidate after it.
        let Some((call, before)) = stack.pop() else {
            return Search::NotLinearizable { rejected };
        };
        let op = list.entries[call].op;
        state = before;
        linearized.remove(op);
        list.unlift(call);
        if ops[op].record.outcome == Outcome::Ok {
            remaining_ok += 1;
        }
        entry = list.next[call];
    }
}
