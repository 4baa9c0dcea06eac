//! Go-style durations, as Vault's API and config speak them.
//!
//! Accepted: a plain integer (seconds, as number or string) or a sequence of
//! `<number><unit>` with units `ns us µs ms s m h` (and `d` for days, which Vault also takes),
//! e.g. `768h`, `1h30m`, `1.5h`, `90s`. Formatting follows Go's `Duration.String()`:
//! `1h0m0s`, `24h0m0s`, `10s`, `0s`.

use std::fmt::Write as _;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a duration into whole seconds (fractions below a second are truncated).
pub fn parse_secs(input: &str) -> Result<u64, DurationError> {
    parse_nanos(input).map(|n| (n / 1_000_000_000) as u64)
}

/// Parses a duration into nanoseconds.
pub fn parse_nanos(input: &str) -> Result<u128, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs as u128 * 1_000_000_000);
    }
    if s.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: f64 = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(err("expected a number"));
        }
        let num: f64 = s[start..i].parse().map_err(|_| err("bad number"))?;
        let ustart = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let unit = &s[ustart..i];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "" => return Err(err("missing unit")),
            _ => return Err(err("unknown unit")),
        };
        total += num * mult;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(err("too large"));
    }
    Ok(total as u128)
}

/// Formats whole seconds the way Go's `time.Duration.String()` does (`1h0m0s`, `10s`, `0s`).
pub fn format_secs(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let h = secs / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h{m}m{s}s");
    } else if m > 0 {
        let _ = write!(out, "{m}m{s}s");
    } else {
        let _ = write!(out, "{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_and_vault_forms() {
        assert_eq!(parse_secs("768h").unwrap(), 768 * 3600);
        assert_eq!(parse_secs("1h30m").unwrap(), 5400);
        assert_eq!(parse_secs("1.5h").unwrap(), 5400);
        assert_eq!(parse_secs("90").unwrap(), 90);
        assert_eq!(parse_secs("10s").unwrap(), 10);
        assert_eq!(parse_secs("1d").unwrap(), 86400);
        assert_eq!(parse_nanos("250ms").unwrap(), 250_000_000);
        assert!(parse_secs("").is_err());
        assert!(parse_secs("10x").is_err());
        assert!(parse_secs("-5s").is_err());
        assert!(parse_secs("h").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_secs(0), "0s");
        assert_eq!(format_secs(10), "10s");
        assert_eq!(format_secs(3600), "1h0m0s");
        assert_eq!(format_secs(86400), "24h0m0s");
        assert_eq!(format_secs(61), "1m1s");
    }
}
