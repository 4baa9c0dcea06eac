//! A config's run status: kept in memory by the scheduler on the active node and persisted in
//! the barrier after every attempt, so a new active node continues the schedule and answers
//! `sys/storage/raft/snapshot-auto/status/:name` with the previous node's last run.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The run state of one config. Times are unix milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStatus {
    /// Failed attempts since the last success.
    pub consecutive_errors: u64,
    /// Start of the last finished attempt.
    pub last_snapshot_start: Option<i64>,
    /// End of the last finished attempt.
    pub last_snapshot_end: Option<i64>,
    /// Why the last finished attempt failed (empty when it succeeded).
    pub last_snapshot_error: String,
    /// Where the last finished attempt wrote (or tried to write) its snapshot.
    pub last_snapshot_url: String,
    /// Start of the current attempt, or of the last one when none is running.
    pub snapshot_start: Option<i64>,
    /// Where the current (or last) attempt writes.
    pub snapshot_url: String,
    /// When the next attempt is due (in memory only: computed by the scheduler).
    #[serde(skip)]
    pub next_snapshot_start: Option<i64>,
    /// End of the last successful attempt (drives `vault.autosnapshots.last.success.time`).
    #[serde(default)]
    pub last_success_end: Option<i64>,
}

/// Unix milliseconds of `t`.
pub fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time at unix milliseconds `ms` (the epoch when out of range).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn rfc3339(ms: Option<i64>) -> Value {
    match ms {
        Some(ms) => json!(from_ms(ms).format(&Rfc3339).unwrap_or_default()),
        None => json!(""),
    }
}

impl SnapshotStatus {
    /// The anchor of the schedule: the start of the last attempt, if any.
    pub fn last_attempt_start(&self) -> Option<i64> {
        self.snapshot_start.or(self.last_snapshot_start)
    }

    /// The body of a status read: Vault's fields, times in RFC 3339 (empty when there is no
    /// such time yet).
    pub fn to_response(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("consecutive_errors".into(), json!(self.consecutive_errors));
        m.insert(
            "last_snapshot_start".into(),
            rfc3339(self.last_snapshot_start),
        );
        m.insert("last_snapshot_end".into(), rfc3339(self.last_snapshot_end));
        m.insert(
            "last_snapshot_error".into(),
            json!(self.last_snapshot_error),
        );
        m.insert("last_snapshot_url".into(), json!(self.last_snapshot_url));
        m.insert(
            "next_snapshot_start".into(),
            rfc3339(self.next_snapshot_start),
        );
        m.insert("snapshot_start".into(), rfc3339(self.snapshot_start));
        m.insert("snapshot_url".into(), json!(self.snapshot_url));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_has_vaults_fields_in_rfc3339() {
        let s = SnapshotStatus {
            consecutive_errors: 2,
            last_snapshot_start: Some(1_767_225_600_000),
            last_snapshot_end: Some(1_767_225_601_500),
            last_snapshot_error: "disk full".into(),
            last_snapshot_url: "file:///s/x.snap".into(),
            snapshot_start: Some(1_767_225_600_000),
            snapshot_url: "file:///s/x.snap".into(),
            next_snapshot_start: None,
            last_success_end: None,
        };
        let r = s.to_response();
        assert_eq!(r["consecutive_errors"], json!(2));
        assert_eq!(r["last_snapshot_start"], json!("2026-01-01T00:00:00Z"));
        assert_eq!(r["last_snapshot_end"], json!("2026-01-01T00:00:01.5Z"));
        assert_eq!(r["next_snapshot_start"], json!(""));
        assert_eq!(r["last_snapshot_error"], json!("disk full"));
        assert_eq!(r.len(), 8);
    }

    #[test]
    fn millis_round_trip() {
        let t = from_ms(1_767_225_600_123);
        assert_eq!(to_ms(t), 1_767_225_600_123);
    }
}
