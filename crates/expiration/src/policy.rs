//! The pure rules of leases: how long one lives when issued and when renewed, and how failed
//! revocations are retried. No I/O, no clock: times are passed in (unix seconds).

use std::time::Duration;

/// The TTL limits that apply to a secret: its mount's (already resolved against the system's:
/// a mount without its own uses the system's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlBounds {
    /// TTL when the backend asks for none, seconds.
    pub default_ttl: u64,
    /// The longest a lease may live from issue through renewals, seconds.
    pub max_ttl: u64,
}

/// A lease's TTL and its absolute end when issued at `now`: the backend's `ttl` (0: the
/// mount's default), capped by the backend's `max_ttl` when it gives one and by the mount's.
/// Returns `(ttl, max_expire_time)`.
pub fn issue(now: u64, ttl: u64, max_ttl: u64, bounds: TtlBounds) -> (u64, u64) {
    let max = match max_ttl {
        0 => bounds.max_ttl,
        m => m.min(bounds.max_ttl),
    };
    let ttl = match ttl {
        0 => bounds.default_ttl,
        t => t,
    }
    .min(max);
    (ttl, now.saturating_add(max))
}

/// The outcome of a renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewal {
    /// The new TTL, seconds.
    pub ttl: u64,
    /// Set when the TTL was cut to the lease's maximum lifetime.
    pub warning: Option<String>,
}

/// The TTL a renewal at `now` gives: the backend's answer `backend_ttl` when it sets one, else
/// the requested `increment`, else the mount's default; never past `max_expire_time` (then
/// with Vault's warning).
pub fn renew(
    now: u64,
    increment: u64,
    backend_ttl: u64,
    max_expire_time: u64,
    bounds: TtlBounds,
) -> Renewal {
    let wanted = [backend_ttl, increment, bounds.default_ttl]
        .into_iter()
        .find(|t| *t > 0)
        .unwrap_or(0);
    let left = max_expire_time.saturating_sub(now);
    if wanted > left {
        Renewal {
            ttl: left,
            warning: Some(format!(
                "TTL of {} exceeded the effective max_ttl of {}; TTL value is capped accordingly",
                human(wanted),
                human(left)
            )),
        }
    } else {
        Renewal {
            ttl: wanted,
            warning: None,
        }
    }
}

/// A duration as Go prints one (`1h0m0s`, `45s`), as Vault's warnings show them.
fn human(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// How failed revocations are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure; doubled after each further one.
    pub base: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// Failed attempts after which the lease is irrevocable.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 10 s, doubling up to 10 min, irrevocable after 6 failed attempts (about 5 minutes of
    /// trying, as Vault's expiration manager gives up after 6).
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(600),
            max_attempts: 6,
        }
    }
}

/// What to do after a revocation failed for the `attempts`-th time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this unix time.
    RetryAt(u64),
    /// Stop trying: the lease is irrevocable.
    Irrevocable,
}

impl RetryPolicy {
    /// The decision after `attempts` failures (1 after the first), at `now`.
    pub fn after_failure(&self, now: u64, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::Irrevocable;
        }
        let shift = attempts.saturating_sub(1).min(30);
        let delay = self
            .base
            .saturating_mul(1u32 << shift)
            .min(self.cap)
            .as_secs()
            .max(1);
        AfterFailure::RetryAt(now.saturating_add(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: TtlBounds = TtlBounds {
        default_ttl: 3600,
        max_ttl: 86_400,
    };

    #[test]
    fn issue_uses_the_mount_default_and_caps() {
        assert_eq!(issue(100, 0, 0, B), (3600, 100 + 86_400));
        assert_eq!(issue(100, 60, 0, B), (60, 100 + 86_400));
        assert_eq!(issue(100, 60, 30, B), (30, 130));
        assert_eq!(issue(100, 200_000, 0, B), (86_400, 100 + 86_400));
        // A backend max above the mount's is cut to the mount's.
        assert_eq!(issue(0, 0, 200_000, B), (3600, 86_400));
    }

    #[test]
    fn renew_prefers_the_backend_then_the_increment_and_caps_with_a_warning() {
        assert_eq!(renew(0, 0, 0, 10_000, B).ttl, 3600);
        assert_eq!(renew(0, 120, 0, 10_000, B).ttl, 120);
        assert_eq!(renew(0, 120, 300, 10_000, B).ttl, 300);
        let capped = renew(9_000, 3600, 0, 10_000, B);
        assert_eq!(capped.ttl, 1000);
        assert_eq!(
            capped.warning.as_deref(),
            Some(
                "TTL of 1h0m0s exceeded the effective max_ttl of 16m40s; TTL value is capped accordingly"
            )
        );
        assert_eq!(renew(20_000, 60, 0, 10_000, B).ttl, 0);
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let p = RetryPolicy::default();
        assert_eq!(p.after_failure(1000, 1), AfterFailure::RetryAt(1010));
        assert_eq!(p.after_failure(1000, 2), AfterFailure::RetryAt(1020));
        assert_eq!(p.after_failure(1000, 5), AfterFailure::RetryAt(1160));
        assert_eq!(p.after_failure(1000, 6), AfterFailure::Irrevocable);
        let capped = RetryPolicy {
            max_attempts: 100,
            ..p
        };
        assert_eq!(capped.after_failure(0, 40), AfterFailure::RetryAt(600));
        let fast = RetryPolicy {
            base: Duration::from_millis(10),
            ..p
        };
        assert_eq!(fast.after_failure(5, 1), AfterFailure::RetryAt(6));
    }
}
