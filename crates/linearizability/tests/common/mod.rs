//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use tresor_linearizability::{Event, EventKind, History, Op};

/// Builds a history event by event with a ticking clock.
#[derive(Default)]
pub struct Builder {
    events: Vec<Event<Op>>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn ev(mut self, process: u64, kind: EventKind, op: Op) -> Self {
        let time = self.events.len() as u64 * 10;
        self.events.push(Event {
            process,
            kind,
            op,
            time,
        });
        self
    }

    pub fn invoke(self, p: u64, op: Op) -> Self {
        self.ev(p, EventKind::Invoke, op)
    }

    pub fn ok(self, p: u64, op: Op) -> Self {
        self.ev(p, EventKind::Ok, op)
    }

    pub fn fail(self, p: u64, op: Op) -> Self {
        self.ev(p, EventKind::Fail, op)
    }

    pub fn info(self, p: u64, op: Op) -> Self {
        self.ev(p, EventKind::Info, op)
    }

    /// Invoke and acknowledge at once (a sequential operation).
    pub fn seq(self, p: u64, op: Op) -> Self {
        self.invoke(p, op.clone()).ok(p, op)
    }

    pub fn build(self) -> History<Op> {
        History::from_events(self.events)
    }
}

pub fn w(key: &str, v: &str) -> Op {
    Op::Write {
        key: key.into(),
        value: v.into(),
    }
}

pub fn r(key: &str, v: Option<&str>) -> Op {
    Op::Read {
        key: key.into(),
        value: v.map(str::to_string),
    }
}

pub fn cas(key: &str, expected: Option<&str>, new: &str) -> Op {
    Op::Cas {
        key: key.into(),
        expected: expected.map(str::to_string),
        new: new.into(),
    }
}
