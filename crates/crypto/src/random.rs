//! Random values and constant-time comparison.

use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether `a` and `b` are equal, in time that depends only on their lengths. Use it for every
/// comparison of secrets (tokens, shares, keys, MACs).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `n` bytes from the operating system's random source.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    OsRng.fill_bytes(&mut out);
    out
}

/// A uniformly random string of `n` characters from `[0-9A-Za-z]` (for tokens and OTPs).
pub fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        OsRng.fill_bytes(&mut buf);
        // Rejection sampling: 248 = 4 * 62, so bytes below it map uniformly onto the alphabet.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn random_bytes_have_length_and_vary() {
        assert!(random_bytes(0).is_empty());
        let a = random_bytes(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_bytes(32));
    }

    #[test]
    fn base62_has_length_alphabet_and_spread() {
        assert_eq!(random_base62(0), "");
        let s = random_base62(5000);
        assert_eq!(s.len(), 5000);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let mut seen = std::collections::BTreeSet::new();
        seen.extend(s.bytes());
        // 5000 draws miss one of 62 symbols with probability below 1e-30.
        assert_eq!(seen.len(), 62);
        assert_ne!(random_base62(28), random_base62(28));
    }
}
