//! The password KDF of userpass: Argon2id (RFC 9106) through the RustCrypto `argon2` crate,
//! stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the parameters
//! a hash was made with travel with it and a later change of the defaults keeps old hashes
//! verifiable.
//!
//! Default parameters ([`KdfParams::DEFAULT`]): memory 19 MiB (`m=19456` KiB), 2 passes
//! (`t=2`), 1 lane (`p=1`), 16-byte random salt, 32-byte output — the OWASP password storage
//! recommendation for Argon2id. One verification costs about that memory and a few tens of
//! milliseconds of one core on a current server; that cost is what bounds userpass login
//! throughput. Verification compares in constant time (inside the crate), and a login for an
//! unknown user verifies against a dummy hash so that both paths cost the same.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longest password accepted, bytes (hostile input is bounded; the KDF's cost does not depend
/// on it much, but memory and hashing of a huge body would).
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The parameters new hashes are made with: m=19456 KiB, t=2, p=1.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest parameters the crate accepts (tests only: never for stored passwords).
    pub const TEST_ONLY_CHEAP: KdfParams = KdfParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

/// Errors of hashing.
#[derive(Debug, PartialEq, Eq)]
pub struct KdfError(pub String);

impl std::fmt::Display for KdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "password hashing failed: {}", self.0)
    }
}

impl std::error::Error for KdfError {}

fn hasher(p: KdfParams) -> Result<Argon2<'static>, KdfError> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
        .map_err(|e| KdfError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt; the PHC string.
pub fn hash(password: &str, params: KdfParams) -> Result<String, KdfError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| KdfError(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (with the parameters written in it);
/// a malformed stored string never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let h = hash("s3cret", KdfParams::TEST_ONLY_CHEAP).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{h}");
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cret ", &h));
        assert!(!verify("", &h));
        let again = hash("s3cret", KdfParams::TEST_ONLY_CHEAP).expect("hash");
        assert_ne!(h, again, "a fresh salt each time");
    }

    #[test]
    fn default_parameters_are_the_documented_ones() {
        let h = hash("x", KdfParams::DEFAULT).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("x", &h));
    }

    #[test]
    fn malformed_or_foreign_hashes_never_match() {
        assert!(!verify("x", ""));
        assert!(!verify("x", "plain"));
        assert!(!verify("x", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
    }
}
