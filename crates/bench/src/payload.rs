//! Deterministic payloads and key names.

use rand::{Rng, SeedableRng, distributions::Alphanumeric, rngs::StdRng};

/// `len` ASCII letters and digits drawn from `seed`: the same seed gives the same payload, so
/// runs can be repeated, and every byte is one character, so the JSON value is exactly `len`
/// bytes.
pub fn payload(len: usize, seed: u64) -> String {
    StdRng::seed_from_u64(seed)
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The name of key number `n` under `prefix` (`<prefix>/<n>`).
pub fn key_name(prefix: &str, n: u64) -> String {
    format!("{prefix}/{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_exact_length_and_safe_bytes() {
        for len in [0usize, 1, 7, 256, 4096] {
            let p = payload(len, 9);
            assert_eq!(p.len(), len);
            assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn payload_is_deterministic_per_seed() {
        assert_eq!(payload(64, 1), payload(64, 1));
        assert_ne!(payload(64, 1), payload(64, 2));
        // A shorter payload is a prefix of a longer one with the same seed.
        assert!(payload(64, 5).starts_with(&payload(16, 5)));
    }

    #[test]
    fn payload_is_not_degenerate() {
        let p = payload(1000, 3);
        let distinct: std::collections::HashSet<u8> = p.bytes().collect();
        assert!(
            distinct.len() > 30,
            "only {} distinct bytes",
            distinct.len()
        );
    }

    #[test]
    fn key_names() {
        assert_eq!(key_name("tresor-bench", 0), "tresor-bench/0");
        assert_eq!(key_name("a/b", 999), "a/b/999");
    }
}
