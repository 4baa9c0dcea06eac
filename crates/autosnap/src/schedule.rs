//! When a config's next snapshot is due. Pure.
//!
//! The schedule is anchored on the start of the last attempt (successful or not), persisted in
//! the barrier, so a new active node continues the previous one's schedule instead of
//! starting the interval from zero; before any attempt it is anchored on the config's
//! creation, so the first snapshot comes one interval after the config is written. A run that
//! was due while no node was active (or this one was busy) starts at once, and runs missed in
//! between are not made up.

use std::time::Duration;

use time::OffsetDateTime;

/// The time the next snapshot is due: one `interval` after `anchor` (the last attempt's
/// start, else the config's creation), but never before `now`.
pub fn next_run(anchor: OffsetDateTime, interval: Duration, now: OffsetDateTime) -> OffsetDateTime {
    let due = anchor.checked_add(interval.try_into().unwrap_or(time::Duration::MAX));
    match due {
        Some(due) if due > now => due,
        _ => now,
    }
}

/// How long to wait from `now` until `at` (zero when `at` has passed).
pub fn wait(now: OffsetDateTime, at: OffsetDateTime) -> Duration {
    let d = at - now;
    if d.is_positive() {
        Duration::try_from(d).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn one_interval_after_the_anchor() {
        let anchor = datetime!(2026-01-01 00:00 UTC);
        let now = datetime!(2026-01-01 00:10 UTC);
        assert_eq!(next_run(anchor, HOUR, now), datetime!(2026-01-01 01:00 UTC));
        assert_eq!(
            wait(now, datetime!(2026-01-01 01:00 UTC)),
            Duration::from_secs(3000)
        );
    }

    #[test]
    fn overdue_runs_start_now_and_are_not_made_up() {
        let anchor = datetime!(2026-01-01 00:00 UTC);
        let now = datetime!(2026-01-01 05:30 UTC);
        assert_eq!(next_run(anchor, HOUR, now), now);
        assert_eq!(wait(now, now), Duration::ZERO);
        assert_eq!(wait(now, anchor), Duration::ZERO);
    }

    #[test]
    fn huge_intervals_do_not_overflow() {
        let anchor = datetime!(2026-01-01 00:00 UTC);
        let far = next_run(anchor, Duration::MAX, anchor);
        assert_eq!(
            far, anchor,
            "an unrepresentable due time runs at once rather than panic"
        );
        let ten_years = Duration::from_secs(crate::config::MAX_INTERVAL_SECS);
        assert!(next_run(anchor, ten_years, anchor) > anchor);
    }
}
