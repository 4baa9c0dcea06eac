//! A thread-safe recorder that concurrent clients report their operations to.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::history::{Event, EventKind, History};

type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

/// Collects events from many threads or tasks into one [`History`].
///
/// The clock is read while the lock is held, so the order of events in the history is their
/// real-time order and times never go backwards. Each process must wait for the completion
/// of its operation before invoking the next one; a process whose operation ended with
/// [`Recorder::info`] may invoke again (the unknown operation stays unknown).
pub struct Recorder<O> {
    events: Mutex<Vec<Event<O>>>,
    clock: Clock,
}

impl<O> std::fmt::Debug for Recorder<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("events", &self.lock().len())
            .finish()
    }
}

impl<O> Default for Recorder<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> Recorder<O> {
    /// A recorder whose clock is a monotonic clock started now.
    pub fn new() -> Self {
        let start = Instant::now();
        Self::with_clock(move || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// A recorder with a custom clock (e.g. simulated time); it must never go backwards.
    pub fn with_clock(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self {
            events: Mutex::new(Vec::new()),
            clock: Box::new(clock),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event<O>>> {
        // A panicking client must not hide the history of the others.
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an event of any kind and returns its time.
    pub fn record(&self, process: u64, kind: EventKind, op: O) -> u64 {
        let mut events = self.lock();
        let now = (self.clock)();
        let time = events.last().map_or(now, |last| now.max(last.time));
        events.push(Event {
            process,
            kind,
            op,
            time,
        });
        time
    }

    /// `process` is about to send `op`.
    pub fn invoke(&self, process: u64, op: O) -> u64 {
        self.record(process, EventKind::Invoke, op)
    }

    /// `process`'s operation completed with `kind` (`Ok`, `Fail` or `Info`); for `Ok`, `op`
    /// carries the observed result.
    pub fn complete(&self, process: u64, kind: EventKind, op: O) -> u64 {
        self.record(process, kind, op)
    }

    /// `process`'s operation succeeded with the result recorded in `op`.
    pub fn ok(&self, process: u64, op: O) -> u64 {
        self.record(process, EventKind::Ok, op)
    }

    /// `process`'s operation definitely did not take effect.
    pub fn fail(&self, process: u64, op: O) -> u64 {
        self.record(process, EventKind::Fail, op)
    }

    /// The outcome of `process`'s operation is unknown.
    pub fn info(&self, process: u64, op: O) -> u64 {
        self.record(process, EventKind::Info, op)
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl<O: Clone> Recorder<O> {
    /// A copy of everything recorded so far.
    pub fn history(&self) -> History<O> {
        History::from_events(self.lock().clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::register::Op;

    #[test]
    fn concurrent_threads_produce_a_well_formed_ordered_history() {
        let rec = Arc::new(Recorder::<Op>::new());
        let threads: Vec<_> = (0..4u64)
            .map(|p| {
                let rec = Arc::clone(&rec);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let op = Op::Write {
                            key: format!("k{p}"),
                            value: i.to_string(),
                        };
                        rec.invoke(p, op.clone());
                        rec.ok(p, op);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let h = rec.history();
        assert_eq!(h.len(), 400);
        assert!(h.events().windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(h.operations().unwrap().len(), 200);
    }

    #[test]
    fn custom_clock_is_used_and_never_goes_backwards() {
        let ticks = Arc::new(AtomicU64::new(100));
        let t = Arc::clone(&ticks);
        let rec = Recorder::<Op>::with_clock(move || t.load(Ordering::SeqCst));
        let op = Op::Read {
            key: "k".into(),
            value: None,
        };
        assert_eq!(rec.invoke(1, op.clone()), 100);
        ticks.store(50, Ordering::SeqCst);
        assert_eq!(rec.info(1, op), 100);
        ticks.store(120, Ordering::SeqCst);
        assert_eq!(
            rec.fail(
                2,
                Op::Read {
                    key: "k".into(),
                    value: None
                }
            ),
            120
        );
    }
}
