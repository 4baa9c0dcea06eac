//! Recorded histories: invocation and completion events, and their pairing into operations.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::LinError;
use crate::model::KeyedOp;

/// What an event says about an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// The client sent the request.
    Invoke,
    /// The request succeeded; the event's op carries the observed result.
    Ok,
    /// The request definitely did not take effect (refused, CAS mismatch, not sent).
    Fail,
    /// The outcome is unknown (timeout, connection reset, leader lost): the operation may
    /// take effect at any later time, or never.
    Info,
}

/// One entry of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<O> {
    /// The client (thread or task) that issued the operation; one operation at a time each.
    pub process: u64,
    /// Invocation or completion.
    pub kind: EventKind,
    /// The operation; on `Ok` completions it carries the observed result.
    pub op: O,
    /// Monotonic time in nanoseconds since the recorder started.
    pub time: u64,
}

/// How a checked operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Acknowledged: it took effect exactly once, between invocation and completion.
    Ok,
    /// Unknown (crashed, timed out, or still pending when the history ended): it took
    /// effect once at some time after its invocation, or never.
    Unknown,
}

/// An operation with its invocation and completion paired, as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord<O> {
    /// The process that issued it.
    pub process: u64,
    /// The operation (with its result when acknowledged).
    pub op: O,
    /// Time of the invocation, in nanoseconds.
    pub invoked_ns: u64,
    /// Time of the completion; `None` for unknown outcomes.
    pub completed_ns: Option<u64>,
    /// Whether it was acknowledged or its outcome is unknown.
    pub outcome: Outcome,
}

/// A paired operation with the positions of its events in the (time-ordered) history.
#[derive(Clone, Debug)]
pub(crate) struct Paired<O> {
    pub(crate) record: OpRecord<O>,
    /// Position of the invocation.
    pub(crate) call: usize,
    /// Position of the `Ok` completion; `None` for unknown outcomes.
    pub(crate) ret: Option<usize>,
}

/// An ordered list of events, as recorded by [`crate::Recorder`] or built by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<O> {
    events: Vec<Event<O>>,
}

impl<O> Default for History<O> {
    fn default() -> Self {
        Self { events: Vec::new() }
    }
}

impl<O> History<O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A history from events. They are ordered by `time`; events with equal times keep the
    /// order they are given in.
    pub fn from_events(mut events: Vec<Event<O>>) -> Self {
        events.sort_by_key(|e| e.time);
        Self { events }
    }

    /// Appends an event; its time is raised to the previous event's time if it is earlier.
    pub fn push(&mut self, mut event: Event<O>) {
        if let Some(last) = self.events.last() {
            event.time = event.time.max(last.time);
        }
        self.events.push(event);
    }

    /// The events in time order.
    pub fn events(&self) -> &[Event<O>] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl<O: KeyedOp + Clone> History<O> {
    /// Pairs invocations with completions. `Fail`ed operations are left out (they did not
    /// happen); operations still pending at the end are treated as unknown.
    pub fn operations(&self) -> Result<Vec<OpRecord<O>>, LinError> {
        Ok(self.pair()?.into_iter().map(|p| p.record).collect())
    }

    pub(crate) fn pair(&self) -> Result<Vec<Paired<O>>, LinError> {
        // process -> slot in `out` of its pending operation
        let mut pending: HashMap<u64, usize> = HashMap::new();
        let mut out: Vec<Option<Paired<O>>> = Vec::new();
        for (index, event) in self.events.iter().enumerate() {
            let process = event.process;
            if event.kind == EventKind::Invoke {
                if pending.contains_key(&process) {
                    return Err(LinError::DoubleInvoke { process, index });
                }
                pending.insert(process, out.len());
                out.push(Some(Paired {
                    record: OpRecord {
                        process,
                        op: event.op.clone(),
                        invoked_ns: event.time,
                        completed_ns: None,
                        outcome: Outcome::Unknown,
                    },
                    call: index,
                    ret: None,
                }));
                continue;
            }
            let Some(slot) = pending.remove(&process) else {
                return Err(LinError::CompletionWithoutInvoke { process, index });
            };
            // Only a completion empties a slot, and it also ends the pending state.
            let Some(paired) = out[slot].as_mut() else {
                continue;
            };
            if paired.record.op.key() != event.op.key() {
                return Err(LinError::KeyMismatch {
                    process,
                    invoked: paired.record.op.key().to_string(),
                    completed: event.op.key().to_string(),
                });
            }
            match event.kind {
                EventKind::Ok => {
                    paired.record.op = event.op.clone();
                    paired.record.completed_ns = Some(event.time);
                    paired.record.outcome = Outcome::Ok;
                    paired.ret = Some(index);
                }
                EventKind::Fail => out[slot] = None,
                // The invocation's op is kept: its arguments are what may still be applied.
                EventKind::Info | EventKind::Invoke => {}
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::Op;

    fn ev(process: u64, kind: EventKind, op: Op, time: u64) -> Event<Op> {
        Event {
            process,
            kind,
            op,
            time,
        }
    }

    fn read(v: Option<&str>) -> Op {
        Op::Read {
            key: "k".into(),
            value: v.map(str::to_string),
        }
    }

    #[test]
    fn pairs_ok_fail_info_and_pending() {
        let h = History::from_events(vec![
            ev(1, EventKind::Invoke, read(None), 1),
            ev(2, EventKind::Invoke, read(None), 2),
            ev(1, EventKind::Ok, read(Some("a")), 3),
            ev(2, EventKind::Fail, read(None), 4),
            ev(3, EventKind::Invoke, read(None), 5),
            ev(3, EventKind::Info, read(None), 6),
            ev(4, EventKind::Invoke, read(None), 7),
        ]);
        let ops = h.operations().unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].op, read(Some("a")));
        assert_eq!(ops[0].outcome, Outcome::Ok);
        assert_eq!(ops[0].completed_ns, Some(3));
        assert_eq!(ops[1].process, 3);
        assert_eq!(ops[1].outcome, Outcome::Unknown);
        assert_eq!(ops[2].process, 4);
        assert_eq!(ops[2].outcome, Outcome::Unknown);
    }

    #[test]
    fn rejects_malformed_histories() {
        let double = History::from_events(vec![
            ev(1, EventKind::Invoke, read(None), 1),
            ev(1, EventKind::Invoke, read(None), 2),
        ]);
        assert_eq!(
            double.operations(),
            Err(LinError::DoubleInvoke {
                process: 1,
                index: 1
            })
        );
        let orphan = History::from_events(vec![ev(1, EventKind::Ok, read(None), 1)]);
        assert_eq!(
            orphan.operations(),
            Err(LinError::CompletionWithoutInvoke {
                process: 1,
                index: 0
            })
        );
        let other = Op::Read {
            key: "other".into(),
            value: None,
        };
        let mismatch = History::from_events(vec![
            ev(1, EventKind::Invoke, read(None), 1),
            ev(1, EventKind::Ok, other, 2),
        ]);
        assert!(matches!(
            mismatch.operations(),
            Err(LinError::KeyMismatch { .. })
        ));
    }

    #[test]
    fn history_round_trips_through_json() {
        let h = History::from_events(vec![
            ev(1, EventKind::Invoke, read(None), 1),
            ev(1, EventKind::Ok, read(Some("a")), 2),
        ]);
        let json = serde_json::to_string(&h).unwrap();
        let back: History<Op> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn from_events_orders_by_time_stably() {
        let h = History::from_events(vec![
            ev(2, EventKind::Invoke, read(None), 5),
            ev(1, EventKind::Invoke, read(None), 1),
            ev(3, EventKind::Invoke, read(None), 5),
        ]);
        let procs: Vec<u64> = h.events().iter().map(|e| e.process).collect();
        assert_eq!(procs, vec![1, 2, 3]);
    }
}
