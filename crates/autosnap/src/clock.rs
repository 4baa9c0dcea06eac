//! Wall-clock time for the scheduler, behind a trait so tests run on tokio's paused clock.

use std::sync::Arc;

use time::OffsetDateTime;

/// The current wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that starts at a given wall time and advances with tokio's clock, so a test with
/// paused time (`tokio::time::pause`, `advance`) moves both the scheduler's sleeps and the
/// times it records.
#[derive(Clone, Debug)]
pub struct TokioClock {
    base_wall: OffsetDateTime,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: OffsetDateTime) -> Arc<TokioClock> {
        Arc::new(TokioClock {
            base_wall: start,
            base: tokio::time::Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.base);
        self.base_wall
            .checked_add(elapsed.try_into().unwrap_or(time::Duration::MAX))
            .unwrap_or(self.base_wall)
    }
}
