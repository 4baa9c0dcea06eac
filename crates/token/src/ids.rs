//! Random identifiers and display-name rules.

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;

/// Prefix of service token ids.
pub(crate) const SERVICE_PREFIX: &str = "hvs.";

/// Length of the random part of token ids and of accessors.
pub(crate) const RANDOM_LEN: usize = 24;

/// `len` random base62 characters from the OS generator.
pub(crate) fn base62(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A new service token id: `hvs.` followed by 24 base62 characters (28 in all).
pub fn new_token_id() -> String {
    format!("{SERVICE_PREFIX}{}", base62(RANDOM_LEN))
}

/// A new accessor: 24 base62 characters.
pub fn new_accessor() -> String {
    base62(RANDOM_LEN)
}

/// The display name of a created token: `token` alone, or `token-<name>` with every character
/// outside `[A-Za-z0-9-]` replaced by `-` and trailing dashes removed.
pub(crate) fn display_name(requested: Option<&str>) -> String {
    let Some(name) = requested.filter(|n| !n.is_empty()) else {
        return "token".to_owned();
    };
    let full: String = format!("token-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    full.trim_end_matches('-').to_owned()
}

/// Whether `name` is usable as a role name (one path segment, no dots-only names).
pub(crate) fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_hvs_plus_24_base62() {
        let a = new_token_id();
        let b = new_token_id();
        assert_eq!(a.len(), 28);
        assert!(a.starts_with("hvs."));
        assert!(a[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(new_accessor().len(), 24);
    }

    #[test]
    fn display_names_are_prefixed_and_sanitized() {
        assert_eq!(display_name(None), "token");
        assert_eq!(display_name(Some("")), "token");
        assert_eq!(display_name(Some("token")), "token-token");
        assert_eq!(display_name(Some("my app/v1!")), "token-my-app-v1");
    }

    #[test]
    fn role_names() {
        assert!(valid_role_name("testrole"));
        assert!(!valid_role_name("a/b"));
        assert!(!valid_role_name(""));
        assert!(!valid_role_name(".."));
    }
}
