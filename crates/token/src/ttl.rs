//! Pure TTL arithmetic for token creation and renewal (no I/O, no clock).

use crate::entry::TtlLimits;

/// The TTL inputs of a token being created, in seconds (0 = not given).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtlRequest {
    /// Requested TTL.
    pub ttl: u64,
    /// Requested hard cap from creation.
    pub explicit_max_ttl: u64,
    /// Requested renewal period.
    pub period: u64,
    /// Whether the token carries the root policy (root tokens may live forever).
    pub root_policy: bool,
}

/// The TTL a token gets at creation, and whether it was shortened by a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlGrant {
    /// Granted TTL in seconds; 0 = never expires.
    pub ttl: u64,
    /// The requested TTL was cut down to a maximum.
    pub capped: bool,
}

/// The effective maximum lifetime of a non-periodic token: the smaller of the system maximum
/// and the explicit maximum (0 = unlimited).
pub fn effective_max(explicit_max_ttl: u64, limits: TtlLimits) -> u64 {
    match (explicit_max_ttl, limits.max_lease_ttl) {
        (0, m) => m,
        (e, 0) => e,
        (e, m) => e.min(m),
    }
}

/// The TTL granted at creation.
///
/// Periodic tokens get their period (cut by the explicit maximum only). Others get the requested
/// TTL, or the default lease TTL when none is asked for (root-policy tokens get none and never
/// expire), cut by the explicit maximum and the system maximum.
pub fn creation_ttl(req: TtlRequest, limits: TtlLimits) -> TtlGrant {
    if req.period > 0 {
        return match req.explicit_max_ttl {
            e if e > 0 && e < req.period => TtlGrant {
                ttl: e,
                capped: true,
            },
            _ => TtlGrant {
                ttl: req.period,
                capped: false,
            },
        };
    }
    let mut ttl = req.ttl;
    if ttl == 0 && !req.root_policy {
        ttl = limits.default_lease_ttl;
    }
    if ttl == 0 && req.explicit_max_ttl > 0 {
        ttl = req.explicit_max_ttl;
    }
    let max = effective_max(req.explicit_max_ttl, limits);
    if ttl == 0 && max > 0 && !req.root_policy {
        // No default configured: still never beyond the maximum.
        ttl = max;
    }
    if max > 0 && ttl > max {
        TtlGrant {
            ttl: max,
            capped: req.ttl > max,
        }
    } else {
        TtlGrant { ttl, capped: false }
    }
}

/// The renewal inputs: the token's facts plus the requested increment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenewRequest {
    /// The token's creation time (unix seconds).
    pub creation_time: u64,
    /// The TTL granted at creation.
    pub creation_ttl: u64,
    /// The token's explicit maximum TTL (0 = none).
    pub explicit_max_ttl: u64,
    /// The token's period (0 = not periodic).
    pub period: u64,
    /// Requested increment (0 = the creation TTL again).
    pub increment: u64,
    /// Now (unix seconds).
    pub now: u64,
}

/// The TTL a renewal grants, counted from `now`.
///
/// Periodic tokens get their period again, cut only by what is left of the explicit maximum.
/// Others get the increment (or their creation TTL), cut by what is left of the effective
/// maximum lifetime counted from creation. 0 means nothing is left: the token expires now.
pub fn renewed_ttl(req: RenewRequest, limits: TtlLimits) -> u64 {
    let left_of = |max: u64| {
        req.creation_time
            .saturating_add(max)
            .saturating_sub(req.now)
    };
    if req.period > 0 {
        return match req.explicit_max_ttl {
            0 => req.period,
            e => req.period.min(left_of(e)),
        };
    }
    let inc = if req.increment > 0 {
        req.increment
    } else {
        req.creation_ttl
    };
    match effective_max(req.explicit_max_ttl, limits) {
        0 => inc,
        max => inc.min(left_of(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TtlLimits = TtlLimits {
        default_lease_ttl: 3600,
        max_lease_ttl: 86400,
    };

    fn req(ttl: u64, explicit: u64, period: u64) -> TtlRequest {
        TtlRequest {
            ttl,
            explicit_max_ttl: explicit,
            period,
            root_policy: false,
        }
    }

    #[test]
    fn requested_ttl_is_kept_below_limits() {
        assert_eq!(creation_ttl(req(300, 0, 0), LIMITS).ttl, 300);
    }

    #[test]
    fn missing_ttl_takes_default_but_root_lives_forever() {
        assert_eq!(creation_ttl(req(0, 0, 0), LIMITS).ttl, 3600);
        let root = TtlRequest {
            root_policy: true,
            ..req(0, 0, 0)
        };
        assert_eq!(creation_ttl(root, LIMITS).ttl, 0);
        let root_capped = TtlRequest {
            root_policy: true,
            ..req(0, 600, 0)
        };
        assert_eq!(creation_ttl(root_capped, LIMITS).ttl, 600);
    }

    #[test]
    fn explicit_max_and_system_max_cap() {
        let g = creation_ttl(req(1800, 300, 0), LIMITS);
        assert_eq!(
            g,
            TtlGrant {
                ttl: 300,
                capped: true
            }
        );
        let g = creation_ttl(req(200_000, 0, 0), LIMITS);
        assert_eq!(
            g,
            TtlGrant {
                ttl: 86400,
                capped: true
            }
        );
        // An explicit max above the system max does not lift it.
        assert_eq!(creation_ttl(req(200_000, 100_000, 0), LIMITS).ttl, 86400);
    }

    #[test]
    fn periodic_ignores_system_max_but_not_explicit_max() {
        assert_eq!(creation_ttl(req(0, 0, 1800), LIMITS).ttl, 1800);
        assert_eq!(creation_ttl(req(5, 0, 200_000), LIMITS).ttl, 200_000);
        assert_eq!(creation_ttl(req(0, 60, 1800), LIMITS).ttl, 60);
    }

    #[test]
    fn no_limits_configured() {
        let none = TtlLimits::default();
        assert_eq!(creation_ttl(req(0, 0, 0), none).ttl, 0);
        assert_eq!(creation_ttl(req(999_999, 0, 0), none).ttl, 999_999);
    }

    fn renew(creation_ttl: u64, explicit: u64, period: u64, increment: u64, age: u64) -> u64 {
        renewed_ttl(
            RenewRequest {
                creation_time: 1000,
                creation_ttl,
                explicit_max_ttl: explicit,
                period,
                increment,
                now: 1000 + age,
            },
            LIMITS,
        )
    }

    #[test]
    fn renewal_uses_increment_or_creation_ttl() {
        assert_eq!(renew(3600, 0, 0, 0, 100), 3600);
        assert_eq!(renew(3600, 0, 0, 600, 100), 600);
    }

    #[test]
    fn renewal_is_capped_by_lifetime_left() {
        // System max 86400 from creation: at age 86000 only 400 s are left.
        assert_eq!(renew(3600, 0, 0, 3600, 86_000), 400);
        // Explicit max 1000: at age 900, 100 s left.
        assert_eq!(renew(3600, 1000, 0, 3600, 900), 100);
        // Past the maximum: nothing left.
        assert_eq!(renew(3600, 1000, 0, 3600, 5000), 0);
    }

    #[test]
    fn periodic_renewal_resets_to_period() {
        assert_eq!(renew(1800, 0, 1800, 99_999, 1_000_000), 1800);
        assert_eq!(renew(1800, 2000, 1800, 0, 1900), 100);
    }
}
