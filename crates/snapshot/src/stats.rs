//! Key-prefix statistics of a snapshot (for `operator raft snapshot inspect`).

use std::collections::BTreeMap;

/// The prefix a key is counted under: its first two path segments when it has more than
/// two (`logical/<uuid>/`, `sys/token/`), its first segment when it has two (`core/`), else
/// the key itself.
pub fn key_prefix(key: &str) -> &str {
    let mut cuts = key.match_indices('/').map(|(i, _)| i);
    match (cuts.next(), cuts.next()) {
        (Some(_), Some(second)) if second + 1 < key.len() => &key[..=second],
        (Some(first), _) => &key[..=first],
        (None, _) => key,
    }
}

/// Count and total value size of one prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixStat {
    /// Number of keys.
    pub count: u64,
    /// Sum of their value lengths, bytes.
    pub size: u64,
}

/// Statistics by key prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixStats {
    /// By prefix, in key order.
    pub by_prefix: BTreeMap<String, PrefixStat>,
}

impl PrefixStats {
    /// Counts one key with a value of `value_len` bytes.
    pub fn add(&mut self, key: &str, value_len: u64) {
        let stat = self
            .by_prefix
            .entry(key_prefix(key).to_owned())
            .or_default();
        stat.count += 1;
        stat.size += value_len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(key_prefix("core/keyring"), "core/");
        assert_eq!(key_prefix("sys/token/id/abc"), "sys/token/");
        assert_eq!(key_prefix("logical/1234/data/x"), "logical/1234/");
        assert_eq!(key_prefix("a/b/"), "a/");
        assert_eq!(key_prefix("plain"), "plain");
        let mut s = PrefixStats::default();
        s.add("core/a", 3);
        s.add("core/b", 4);
        assert_eq!(s.by_prefix["core/"], PrefixStat { count: 2, size: 7 });
    }
}
