//! Time source and timestamp formatting.
//!
//! Timestamps are kept as signed nanoseconds since the Unix epoch (`i64`, good until 2262) and
//! rendered as Vault renders them: RFC 3339 in UTC with up to nine fractional digits and no
//! trailing zeros, e.g. `2018-03-22T02:24:06.945319214Z`.

use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A source of "now" in nanoseconds since the Unix epoch. Injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(now_nanos)
}

/// The current wall-clock time in nanoseconds since the Unix epoch (saturating).
pub fn now_nanos() -> i64 {
    let n = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC (empty string if out of range).
pub fn rfc3339(nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Adds whole seconds to a nanosecond timestamp, saturating.
pub fn add_secs(nanos: i64, secs: u64) -> i64 {
    let add = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000);
    nanos.saturating_add(add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        // 2018-03-22T02:24:06Z is 1521685446 s.
        assert_eq!(
            rfc3339(1_521_685_446_945_319_214),
            "2018-03-22T02:24:06.945319214Z"
        );
        assert_eq!(rfc3339(1_521_685_446_500_000_000), "2018-03-22T02:24:06.5Z");
        assert_eq!(rfc3339(1_521_685_446_000_000_000), "2018-03-22T02:24:06Z");
    }

    #[test]
    fn add_secs_saturates() {
        assert_eq!(add_secs(5, 2), 2_000_000_005);
        assert_eq!(add_secs(i64::MAX - 1, 10), i64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!((system_clock())() > 1_577_836_800_000_000_000);
    }
}
