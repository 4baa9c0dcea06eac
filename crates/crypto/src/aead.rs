//! AES-256-GCM with a random 96-bit nonce.
//!
//! A sealed blob is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The associated data is
//! authenticated but not stored: the caller must present the same bytes again to decrypt.
//! Random nonces are safe for up to about 2^32 messages per key; the barrier rotates keys
//! (terms) long before that.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::{CryptoError, Key32};

/// Length of the nonce prefix of every blob.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag at the end of every blob.
pub const TAG_LEN: usize = 16;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Encrypts `plaintext` under `key`, authenticating `aad`, and returns
/// `nonce || ciphertext || tag`.
pub fn encrypt(key: &Key32, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.as_bytes().into());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a blob made by [`encrypt`] with the same `key` and `aad`. Any mismatch or
/// modification yields [`CryptoError::Decrypt`].
pub fn decrypt(key: &Key32, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if blob.len() < OVERHEAD {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(key.as_bytes().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let key = Key32::generate();
        let blob = encrypt(&key, b"path/a", b"hello").unwrap();
        assert_eq!(blob.len(), 5 + OVERHEAD);
        assert_eq!(
            decrypt(&key, b"path/a", &blob).unwrap().as_slice(),
            b"hello"
        );
        let empty = encrypt(&key, b"", b"").unwrap();
        assert_eq!(empty.len(), OVERHEAD);
        assert!(decrypt(&key, b"", &empty).unwrap().is_empty());
    }

    #[test]
    fn nonces_are_fresh() {
        let key = Key32::generate();
        let a = encrypt(&key, b"", b"same").unwrap();
        let b = encrypt(&key, b"", b"same").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let key = Key32::generate();
        let blob = encrypt(&key, b"aad", b"secret value").unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(
                    decrypt(&key, b"aad", &bad),
                    Err(CryptoError::Decrypt),
                    "flip at byte {i} bit {bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn wrong_key_aad_or_truncation_is_refused() {
        let key = Key32::generate();
        let blob = encrypt(&key, b"aad", b"secret").unwrap();
        assert_eq!(
            decrypt(&Key32::generate(), b"aad", &blob),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(decrypt(&key, b"aae", &blob), Err(CryptoError::Decrypt));
        assert_eq!(decrypt(&key, b"", &blob), Err(CryptoError::Decrypt));
        for len in 0..blob.len() {
            assert_eq!(
                decrypt(&key, b"aad", &blob[..len]),
                Err(CryptoError::Decrypt)
            );
        }
    }
}
