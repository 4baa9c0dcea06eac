//! Glob matching as Vault's bound lists use it (`bound_claims` with `bound_claims_type=glob`,
//! Kubernetes `bound_service_account_names`/`_namespaces`): `*` stands for any run of
//! characters (also none), anywhere in the pattern; every other character matches itself. A
//! pattern without `*` is an exact match. Pure; linear in the input per pattern part.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) {
        return false;
    }
    let mut rest = &text[first.len()..];
    if rest.len() < last.len() {
        return false;
    }
    let tail_at = rest.len() - last.len();
    if !rest.is_char_boundary(tail_at) || !rest[tail_at..].eq(last) {
        return false;
    }
    rest = &rest[..tail_at];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `text` matches any of `patterns`.
pub fn any_matches(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| matches(p, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("web-*", "web-1"));
        assert!(!matches("web-*", "api-1"));
        assert!(matches("*-sa", "webapp-sa"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(
            !matches("ab*ba", "aba"),
            "prefix and suffix may not overlap"
        );
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("é*ü", "éaü"));
        assert!(any_matches(&["x".into(), "prod-*".into()], "prod-eu"));
        assert!(!any_matches(&[], "x"));
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]
        #[test]
        fn literal_patterns_match_themselves(s in "[a-z0-9*-]{0,12}", t in ".{0,16}") {
            // A pattern always matches the text made by replacing its stars with anything.
            let filled = s.replace('*', &t);
            prop_assert!(matches(&s, &filled), "pattern {s:?} text {filled:?}");
            // And matching never panics on arbitrary input.
            let _ = matches(&t, &s);
        }
    }
}
