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
    fn forbidden_finds_disallowed() {
        assert_eq!(forbidden(&v(&["a", "b"]), &v(&["b", "z"])), vec!["b"]);
        assert!(forbidden(&v(&["a"]), &v(&["b"])).is_empty());
    }
}
