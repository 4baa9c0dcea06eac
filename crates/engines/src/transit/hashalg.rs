//! The hash algorithms transit names in `hash`, `hmac`, `sign` and `verify`, with Vault's
//! spellings, and HMAC over them.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use sha3::{Sha3_224, Sha3_256, Sha3_384, Sha3_512};

/// A hash algorithm by Vault's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashAlg {
    /// `sha1` (signing only, for old verifiers).
    Sha1,
    /// `sha2-224`
    Sha2_224,
    /// `sha2-256`
    Sha2_256,
    /// `sha2-384`
    Sha2_384,
    /// `sha2-512`
    Sha2_512,
    /// `sha3-224`
    Sha3_224,
    /// `sha3-256`
    Sha3_256,
    /// `sha3-384`
    Sha3_384,
    /// `sha3-512`
    Sha3_512,
}

/// Names accepted by `hash` (signatures and HMAC also take `sha1`).
pub(crate) const DIGEST_NAMES: &str =
    "sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256, sha3-384, sha3-512";

impl HashAlg {
    /// The algorithm named `name`, SHA-1 included.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sha1" => HashAlg::Sha1,
            "sha2-224" => HashAlg::Sha2_224,
            "sha2-256" => HashAlg::Sha2_256,
            "sha2-384" => HashAlg::Sha2_384,
            "sha2-512" => HashAlg::Sha2_512,
            "sha3-224" => HashAlg::Sha3_224,
            "sha3-256" => HashAlg::Sha3_256,
            "sha3-384" => HashAlg::Sha3_384,
            "sha3-512" => HashAlg::Sha3_512,
            _ => return None,
        })
    }

    /// The algorithm named `name` for `hash`: SHA-2 and SHA-3 only.
    pub(crate) fn parse_digest(name: &str) -> Option<Self> {
        Self::parse(name).filter(|a| *a != HashAlg::Sha1)
    }

    /// Length of a digest in bytes.
    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha2_224 | HashAlg::Sha3_224 => 28,
            HashAlg::Sha2_256 | HashAlg::Sha3_256 => 32,
            HashAlg::Sha2_384 | HashAlg::Sha3_384 => 48,
            HashAlg::Sha2_512 | HashAlg::Sha3_512 => 64,
        }
    }

    /// The digest of `input`.
    pub(crate) fn digest(self, input: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(input).to_vec(),
            HashAlg::Sha2_224 => Sha224::digest(input).to_vec(),
            HashAlg::Sha2_256 => Sha256::digest(input).to_vec(),
            HashAlg::Sha2_384 => Sha384::digest(input).to_vec(),
            HashAlg::Sha2_512 => Sha512::digest(input).to_vec(),
            HashAlg::Sha3_224 => Sha3_224::digest(input).to_vec(),
            HashAlg::Sha3_256 => Sha3_256::digest(input).to_vec(),
            HashAlg::Sha3_384 => Sha3_384::digest(input).to_vec(),
            HashAlg::Sha3_512 => Sha3_512::digest(input).to_vec(),
        }
    }

    /// HMAC of `input` under `key`.
    pub(crate) fn hmac(self, key: &[u8], input: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length, so this cannot fail.
            match <M as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(input);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            HashAlg::Sha1 => run::<Hmac<Sha1>>(key, input),
            HashAlg::Sha2_224 => run::<Hmac<Sha224>>(key, input),
            HashAlg::Sha2_256 => run::<Hmac<Sha256>>(key, input),
            HashAlg::Sha2_384 => run::<Hmac<Sha384>>(key, input),
            HashAlg::Sha2_512 => run::<Hmac<Sha512>>(key, input),
            HashAlg::Sha3_224 => run::<Hmac<Sha3_224>>(key, input),
            HashAlg::Sha3_256 => run::<Hmac<Sha3_256>>(key, input),
            HashAlg::Sha3_384 => run::<Hmac<Sha3_384>>(key, input),
            HashAlg::Sha3_512 => run::<Hmac<Sha3_512>>(key, input),
        }
    }

    /// Whether `tag` is the HMAC of `input` under `key`, compared in constant time.
    pub(crate) fn hmac_matches(self, key: &[u8], input: &[u8], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.hmac(key, input);
        !expected.is_empty() && bool::from(expected.as_slice().ct_eq(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lengths() {
        for name in DIGEST_NAMES.split(", ") {
            let alg = HashAlg::parse_digest(name).unwrap();
            assert_eq!(alg.digest(b"x").len(), alg.output_len(), "{name}");
            assert_eq!(alg.hmac(b"k", b"x").len(), alg.output_len(), "{name}");
        }
        assert_eq!(HashAlg::parse("sha1"), Some(HashAlg::Sha1));
        assert_eq!(HashAlg::parse_digest("sha1"), None);
        assert_eq!(HashAlg::parse("md5"), None);
        assert_eq!(HashAlg::Sha1.digest(b"").len(), 20);
    }

    #[test]
    fn known_vectors() {
        // SHA3-256("abc") from FIPS 202's examples.
        assert_eq!(
            hex::encode(HashAlg::Sha3_256.digest(b"abc")),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            hex::encode(HashAlg::Sha2_256.hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_comparison() {
        let tag = HashAlg::Sha2_512.hmac(b"key", b"msg");
        assert!(HashAlg::Sha2_512.hmac_matches(b"key", b"msg", &tag));
        assert!(!HashAlg::Sha2_512.hmac_matches(b"key", b"msh", &tag));
        assert!(!HashAlg::Sha2_512.hmac_matches(b"key", b"msg", &tag[..10]));
        assert!(!HashAlg::Sha2_256.hmac_matches(b"key", b"msg", &tag));
    }
}
