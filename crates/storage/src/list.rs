//! Vault-style listing helper shared by backends.

use std::collections::BTreeSet;

/// Reduces an iterator of full keys that all start with `prefix` to the immediate children of
/// `prefix`: `a/b/c` under `a/` becomes `b/`, `a/x` becomes `x`. Sorted and de-duplicated.
pub fn children_of<'a, I>(prefix: &str, keys: I) -> Vec<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut set = BTreeSet::new();
    for key in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        match rest.find('/') {
            Some(i) => set.insert(rest[..=i].to_owned()),
            None => set.insert(rest.to_owned()),
        };
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_immediate_and_folders_marked() {
        let keys = ["a/b/c", "a/b/d", "a/x", "ab", "a/"];
        assert_eq!(
            children_of("a/", keys),
            vec!["b/".to_owned(), "x".to_owned()]
        );
        assert_eq!(
            children_of("", ["x/y", "z"]),
            vec!["x/".to_owned(), "z".to_owned()]
        );
    }
}
