//! Path patterns of policy rules: validation, matching and Vault's priority order.
//!
//! A pattern is a request path (without leading `/`) in which
//! * a segment consisting of exactly `+` matches any one path segment, and
//! * a trailing `*` makes the pattern a prefix: it matches every path that starts with the
//!   text before the `*` (after `+` substitution).
//!
//! `*` anywhere but at the end and the combination `+*` are refused. A `+` that shares its
//! segment with other characters (`a+b`) is literal.
//!
//! When several patterns match one path only the one with the highest priority applies.
//! Comparing two patterns P1 and P2 (Vault's documented "priority matching"), P1 has lower
//! priority when, checked in this order:
//! 1. its first wildcard (`+` or `*`) occurs earlier than P2's (an exact pattern has none, so it
//!    beats every wildcard pattern);
//! 2. it ends in `*` and P2 does not;
//! 3. it has more `+` segments;
//! 4. it is shorter;
//! 5. it is smaller lexicographically.
//!
//! Positions and lengths are measured on the pattern without its trailing `*`.

use std::cmp::Ordering;
use std::fmt;

use crate::PolicyError;

/// A validated path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// The pattern as accepted (leading `/` removed, trailing `*` kept).
    text: String,
    /// The pattern without its trailing `*`.
    body: String,
    /// Whether the pattern ends in `*`.
    prefix: bool,
    /// Number of `+` segments.
    plus_segments: usize,
    /// Byte offset of the first `+` segment or of the trailing `*`; `None` for exact patterns.
    first_wildcard: Option<usize>,
}

impl PathPattern {
    /// Validates a pattern as written in a policy.
    pub fn parse(pattern: &str) -> Result<PathPattern, PolicyError> {
        let invalid = |reason| PolicyError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let text = pattern.strip_prefix('/').unwrap_or(pattern);
        if text.contains("+*") {
            return Err(invalid("invalid use of wildcards ('+*' is forbidden)"));
        }
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(invalid(
                "the glob '*' is only allowed as the last character",
            ));
        }
        let mut plus_segments = 0;
        let mut first_plus = None;
        let mut offset = 0;
        for segment in body.split('/') {
            if segment == "+" {
                plus_segments += 1;
                first_plus.get_or_insert(offset);
            }
            offset += segment.len() + 1;
        }
        let first_wildcard = first_plus.or(prefix.then_some(body.len()));
        Ok(PathPattern {
            text: text.to_owned(),
            body: body.to_owned(),
            prefix,
            plus_segments,
            first_wildcard,
        })
    }

    /// The pattern as accepted (without a leading `/`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern contains no wildcard at all.
    pub fn is_exact(&self) -> bool {
        self.first_wildcard.is_none()
    }

    /// Whether `path` (a request path without leading `/`) matches the pattern.
    pub fn matches(&self, path: &str) -> bool {
        if self.plus_segments == 0 {
            return if self.prefix {
                path.starts_with(&self.body)
            } else {
                path == self.body
            };
        }
        let pattern_parts: Vec<&str> = self.body.split('/').collect();
        let path_parts: Vec<&str> = path.split('/').collect();
        let count_ok = if self.prefix {
            path_parts.len() >= pattern_parts.len()
        } else {
            path_parts.len() == pattern_parts.len()
        };
        if !count_ok {
            return false;
        }
        let last = pattern_parts.len() - 1;
        pattern_parts
            .iter()
            .zip(&path_parts)
            .enumerate()
            .all(|(i, (want, got))| match *want {
                "+" => true,
                literal if self.prefix && i == last => got.starts_with(literal),
                literal => literal == *got,
            })
    }

    /// Compares priorities: `Greater` means `self` wins over `other` when both match a path.
    pub fn priority_cmp(&self, other: &PathPattern) -> Ordering {
        let position = |p: &PathPattern| p.first_wildcard.unwrap_or(usize::MAX);
        position(self)
            .cmp(&position(other))
            // not ending in `*` beats ending in `*`
            .then_with(|| other.prefix.cmp(&self.prefix))
            // fewer `+` segments beat more
            .then_with(|| other.plus_segments.cmp(&self.plus_segments))
            .then_with(|| self.body.len().cmp(&other.body.len()))
            .then_with(|| self.body.cmp(&other.body))
            // only reachable for equal bodies, where `prefix` already differed; keeps the
            // order total and consistent with `Eq`
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s).unwrap()
    }

    /// The highest-priority pattern among `patterns` that matches `path`.
    fn winner<'a>(patterns: &[&'a str], path: &str) -> Option<&'a str> {
        patterns
            .iter()
            .filter(|s| p(s).matches(path))
            .max_by(|a, b| p(a).priority_cmp(&p(b)))
            .copied()
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        let pat = p("secret/foo");
        assert!(pat.is_exact());
        assert!(pat.matches("secret/foo"));
        assert!(!pat.matches("secret/foo/"));
        assert!(!pat.matches("secret/foobar"));
        assert!(!pat.matches("secret"));
    }

    #[test]
    fn leading_slash_is_ignored() {
        assert_eq!(p("/secret/foo"), p("secret/foo"));
        assert!(p("/secret/*").matches("secret/x"));
    }

    #[test]
    fn glob_is_a_prefix_match() {
        let pat = p("secret/*");
        assert!(pat.matches("secret/"));
        assert!(pat.matches("secret/a"));
        assert!(pat.matches("secret/a/b/c"));
        assert!(!pat.matches("secret"));
        assert!(!pat.matches("secretx"));
        let partial = p("secret/app-*");
        assert!(partial.matches("secret/app-1/x"));
        assert!(!partial.matches("secret/app1"));
        assert!(p("*").matches("anything/at/all"));
    }

    #[test]
    fn plus_matches_exactly_one_segment() {
        let pat = p("secret/+/config");
        assert!(pat.matches("secret/app/config"));
        assert!(!pat.matches("secret/config"));
        assert!(!pat.matches("secret/a/b/config"));
        assert!(!pat.matches("secret/app/config/x"));
        let lone = p("+");
        assert!(lone.matches("secret"));
        assert!(!lone.matches("secret/x"));
        let leading = p("+/data");
        assert!(leading.matches("kv/data"));
        assert!(!leading.matches("kv/meta"));
    }

    #[test]
    fn plus_with_trailing_glob() {
        let pat = p("secret/+/data/*");
        assert!(pat.matches("secret/a/data/"));
        assert!(pat.matches("secret/a/data/x/y"));
        assert!(!pat.matches("secret/a/data"));
        assert!(!pat.matches("secret/a/b/data/x"));
        let partial = p("kv/+/team-*");
        assert!(partial.matches("kv/x/team-a/deep"));
        assert!(!partial.matches("kv/x/teama"));
    }

    #[test]
    fn plus_inside_a_segment_is_literal() {
        let pat = p("secret/a+b");
        assert!(pat.is_exact());
        assert!(pat.matches("secret/a+b"));
        assert!(!pat.matches("secret/aXb"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["secret/*/foo", "secret/a*b", "**", "secret/+*", "+*"] {
            let err = PathPattern::parse(bad).unwrap_err();
            assert!(
                matches!(err, PolicyError::InvalidPattern { ref pattern, .. } if pattern == bad),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn rule0_exact_beats_any_wildcard() {
        let pats = ["secret/foo", "secret/*", "secret/+", "secret/fo*"];
        assert_eq!(winner(&pats, "secret/foo"), Some("secret/foo"));
        assert_eq!(winner(&pats, "secret/bar"), Some("secret/+"));
    }

    #[test]
    fn rule1_later_first_wildcard_wins() {
        // `secret/+/x` has its first wildcard at 7, `secret/a/*` at 9.
        let pats = ["secret/+/x", "secret/a/*"];
        assert_eq!(winner(&pats, "secret/a/x"), Some("secret/a/*"));
        // longer prefix globs win over shorter ones
        let globs = ["secret/*", "secret/a/*", "secret/a/b*"];
        assert_eq!(winner(&globs, "secret/a/bc"), Some("secret/a/b*"));
        assert_eq!(winner(&globs, "secret/a/c"), Some("secret/a/*"));
        assert_eq!(winner(&globs, "secret/b"), Some("secret/*"));
        // `+` later in the path beats an earlier `+`
        let plus = ["+/a/b", "x/+/b"];
        assert_eq!(winner(&plus, "x/a/b"), Some("x/+/b"));
    }

    #[test]
    fn rule2_not_ending_in_glob_wins() {
        // both have their first wildcard at 7
        let pats = ["secret/+/x", "secret/+/*"];
        assert_eq!(winner(&pats, "secret/a/x"), Some("secret/+/x"));
        assert_eq!(winner(&pats, "secret/a/y"), Some("secret/+/*"));
        // glob position equals `+` position: `secret/*` vs `secret/+`
        let pats = ["secret/*", "secret/+"];
        assert_eq!(winner(&pats, "secret/a"), Some("secret/+"));
        assert_eq!(winner(&pats, "secret/a/b"), Some("secret/*"));
    }

    #[test]
    fn rule3_more_plus_segments_lose() {
        // same first wildcard, neither a glob
        let pats = ["a/+/+/d", "a/+/c/d"];
        assert_eq!(winner(&pats, "a/b/c/d"), Some("a/+/c/d"));
        // fewer `+` even when shorter: rule 3 is checked before rule 4
        let pats = ["a/+/+/d/e", "a/+/c/d/e"];
        assert_eq!(winner(&pats, "a/b/c/d/e"), Some("a/+/c/d/e"));
        let pats = ["a/+/c/+/eee", "a/+/ccc/d/e"];
        assert_eq!(winner(&pats, "a/b/c/d/eee"), Some("a/+/c/+/eee"));
        let pats = ["a/+/ccc/d/e", "a/+/ccc/+/e"];
        assert_eq!(winner(&pats, "a/b/ccc/d/e"), Some("a/+/ccc/d/e"));
        // the documentation's own example: same first wildcard, both globs, zero vs two `+`
        let pats = ["secret/+/+/foo/*", "secret/*"];
        assert_eq!(winner(&pats, "secret/a/b/foo/c"), Some("secret/*"));
    }

    #[test]
    fn rule4_shorter_loses() {
        // same first wildcard, both globs, both one `+`
        let pats = ["a/+/c*", "a/+/cd*"];
        assert_eq!(winner(&pats, "a/b/cde"), Some("a/+/cd*"));
        assert_eq!(winner(&pats, "a/b/cx"), Some("a/+/c*"));
    }

    #[test]
    fn rule5_lexicographically_smaller_loses() {
        // same first wildcard (2), no glob, two `+` each, same length: only the text differs
        let pats = ["a/+/+/d", "a/+/c/+"];
        assert_eq!(winner(&pats, "a/b/c/d"), Some("a/+/c/+"));
        let pats = ["a/+/c/+", "a/+/+/d"];
        assert_eq!(winner(&pats, "a/b/c/d"), Some("a/+/c/+"));
    }

    #[test]
    fn priority_is_a_total_order() {
        let all = [
            "a/b", "a/*", "a/+", "a/+/*", "+/b", "+", "*", "a/b*", "a/+/c",
        ];
        for x in all {
            assert_eq!(p(x).priority_cmp(&p(x)), Ordering::Equal);
            for y in all {
                if x != y {
                    assert_eq!(
                        p(x).priority_cmp(&p(y)),
                        p(y).priority_cmp(&p(x)).reverse(),
                        "{x} vs {y}"
                    );
                    assert_ne!(p(x).priority_cmp(&p(y)), Ordering::Equal);
                }
            }
        }
    }
}
