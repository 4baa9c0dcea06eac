//! Pure policy-list rules: normalisation and the "child policies must be a subset of the
//! parent's" check.

use std::collections::BTreeSet;

use crate::entry::{DEFAULT_POLICY, ROOT_POLICY};

/// Trims, lower-cases, de-duplicates and sorts `policies`, dropping empty names. A list holding
/// `root` becomes just `["root"]`; otherwise `default` is added when `add_default` is set.
pub fn sanitize(policies: &[String], add_default: bool) -> Vec<String> {
    let mut set: BTreeSet<String> = policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if set.contains(ROOT_POLICY) {
        return vec![ROOT_POLICY.to_owned()];
    }
    if add_default {
        set.insert(DEFAULT_POLICY.to_owned());
    }
    set.into_iter().collect()
}

/// The policies of `requested` (ignoring `default`, which every token may carry) that are not
/// in `allowed`.
pub fn not_in<'a>(requested: &'a [String], allowed: &[String]) -> Vec<&'a str> {
    requested
        .iter()
        .map(String::as_str)
        .filter(|p| *p != DEFAULT_POLICY && !allowed.iter().any(|a| a == p))
        .collect()
}

/// The policies of `requested` that appear in `disallowed`.
pub fn forbidden<'a>(requested: &'a [String], disallowed: &[String]) -> Vec<&'a str> {
    requested
        .iter()
        .map(String::as_str)
        .filter(|p| disallowed.iter().any(|d| d == p))
        .collect()
}

/// Trims, lower-cases, de-duplicates and sorts glob patterns, dropping empty ones.
pub fn sanitize_globs(globs: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = globs
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    set.into_iter().collect()
}

/// Whether `name` matches `pattern`, where each `*` stands for any run of characters
/// (possibly empty) and everything else matches itself. Greedy matching that backtracks to
/// the last `*` only: at most (pattern length × name length) steps, whatever the input.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The policies of `requested` (ignoring `default`) neither in `allowed` nor matching one of
/// `allowed_globs`.
pub fn outside<'a>(
    requested: &'a [String],
    allowed: &[String],
    allowed_globs: &[String],
) -> Vec<&'a str> {
    not_in(requested, allowed)
        .into_iter()
        .filter(|p| !allowed_globs.iter().any(|g| glob_match(g, p)))
        .collect()
}

/// The policies of `requested` in `disallowed` or matching one of `disallowed_globs`.
pub fn forbidden_with_globs<'a>(
    requested: &'a [String],
    disallowed: &[String],
    disallowed_globs: &[String],
) -> Vec<&'a str> {
    requested
        .iter()
        .map(String::as_str)
        .filter(|p| {
            disallowed.iter().any(|d| d == p) || disallowed_globs.iter().any(|g| glob_match(g, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn sanitize_sorts_dedups_and_adds_default() {
        assert_eq!(
            sanitize(&v(&["b", " A", "b", ""]), true),
            v(&["a", "b", "default"])
        );
        assert_eq!(sanitize(&v(&["b"]), false), v(&["b"]));
        assert_eq!(sanitize(&v(&["x", "root"]), true), v(&["root"]));
        assert_eq!(sanitize(&[], true), v(&["default"]));
    }

    #[test]
    fn subset_ignores_default() {
        let parent = v(&["a", "b"]);
        assert!(not_in(&v(&["a", "default"]), &parent).is_empty());
        assert_eq!(not_in(&v(&["a", "c"]), &parent), vec!["c"]);
        assert_eq!(not_in(&v(&["root"]), &parent), vec!["root"]);
    }

    #[test]
    fn globs() {
        for (pat, name, want) in [
            ("dev-*", "dev-app", true),
            ("dev-*", "dev-", true),
            ("dev-*", "prod-app", false),
            ("*", "", true),
            ("*-ro", "kv-ro", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob_match(pat, name), want, "{pat} vs {name}");
        }
        // Hostile: many stars against a long non-matching name stays cheap.
        let pat = "*a".repeat(200);
        assert!(!glob_match(&pat, &"b".repeat(5000)));
        let r = v(&["dev-a", "prod-b", "default", "x"]);
        assert_eq!(outside(&r, &v(&["x"]), &v(&["dev-*"])), vec!["prod-b"]);
        assert_eq!(
            forbidden_with_globs(&r, &v(&["x"]), &v(&["prod-*"])),
            vec!["prod-b", "x"]
        );
        assert_eq!(sanitize_globs(&v(&[" Dev-* ", "", "dev-*"])), v(&["dev-*"]));
    }

    #[test]
    fn forbidden_finds_disallowed() {
        assert_eq!(forbidden(&v(&["a", "b"]), &v(&["b", "z"])), vec!["b"]);
        assert!(forbidden(&v(&["a"]), &v(&["b"])).is_empty());
    }
}
