//! Per-worker counters and their merge.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::histogram::Histogram;

/// Why one operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The server answered with a non-2xx status.
    Status(u16),
    /// No connection could be made.
    Connect,
    /// The request did not finish within `--timeout`.
    Timeout,
    /// Any other transport failure (connection reset, malformed response, body read error).
    Transport,
}

impl ErrorKind {
    /// A stable identifier for reports and JSON: `http_503`, `connect`, `timeout`, `transport`.
    pub fn key(self) -> String {
        match self {
            Self::Status(code) => format!("http_{code}"),
            Self::Connect => "connect".to_owned(),
            Self::Timeout => "timeout".to_owned(),
            Self::Transport => "transport".to_owned(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(code) => write!(f, "HTTP {code}"),
            Self::Connect => f.write_str("connect"),
            Self::Timeout => f.write_str("timeout"),
            Self::Transport => f.write_str("transport"),
        }
    }
}

/// What one worker (or, after [`RunStats::merge`], the whole run) measured.
///
/// Latencies are those of successful operations; failed ones are only counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Latencies of successful operations, in nanoseconds.
    pub latency: Histogram,
    /// Failed operations by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl RunStats {
    /// Records the outcome of one measured operation.
    pub fn record(&mut self, outcome: Result<Duration, ErrorKind>) {
        match outcome {
            Ok(latency) => self
                .latency
                .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX)),
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    /// Adds another worker's numbers to these.
    pub fn merge(&mut self, other: &RunStats) {
        self.latency.merge(&other.latency);
        for (kind, n) in &other.errors {
            *self.errors.entry(*kind).or_default() += n;
        }
    }

    /// Successful operations.
    pub fn ok(&self) -> u64 {
        self.latency.count()
    }

    /// Failed operations.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// All measured operations.
    pub fn total(&self) -> u64 {
        self.ok() + self.failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_merge_count_by_kind() {
        let mut a = RunStats::default();
        a.record(Ok(Duration::from_millis(2)));
        a.record(Err(ErrorKind::Status(500)));
        a.record(Err(ErrorKind::Status(500)));
        let mut b = RunStats::default();
        b.record(Ok(Duration::from_millis(9)));
        b.record(Err(ErrorKind::Connect));
        b.record(Err(ErrorKind::Status(500)));
        a.merge(&b);
        assert_eq!(a.ok(), 2);
        assert_eq!(a.failed(), 4);
        assert_eq!(a.total(), 6);
        assert_eq!(a.errors[&ErrorKind::Status(500)], 3);
        assert_eq!(a.errors[&ErrorKind::Connect], 1);
        assert_eq!(a.latency.max(), Some(9_000_000));
    }

    #[test]
    fn error_kind_names() {
        assert_eq!(ErrorKind::Status(503).key(), "http_503");
        assert_eq!(ErrorKind::Status(503).to_string(), "HTTP 503");
        assert_eq!(ErrorKind::Timeout.key(), "timeout");
        assert_eq!(ErrorKind::Transport.to_string(), "transport");
    }
}
