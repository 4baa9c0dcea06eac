//! The byte layout of every value the barrier stores (pure, no I/O):
//!
//! ```text
//! [version: u8 = 1][term: u32 big-endian][nonce: 12 bytes][ciphertext][tag: 16 bytes]
//! ```
//!
//! The AES-256-GCM associated data is the full storage key, so a value copied to another key
//! does not decrypt. Term 0 is reserved for the keyring, which is encrypted under the root key.

use tresor_crypto::{CryptoError, Key32, aead};
use zeroize::Zeroizing;

/// The format version written in the first byte of every encrypted value.
pub const FORMAT_VERSION: u8 = 1;
/// The term number used for the keyring entry (encrypted under the root key).
pub(crate) const ROOT_TERM: u32 = 0;
const HEADER_LEN: usize = 1 + 4;

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Shorter than header, nonce and tag.
    Truncated,
    /// A version this code does not know.
    UnknownVersion(u8),
    /// Did not authenticate under the term's key and the storage key.
    Decrypt,
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::Truncated => f.write_str("value is truncated"),
            EnvelopeError::UnknownVersion(v) => write!(f, "unknown barrier format version {v}"),
            EnvelopeError::Decrypt => f.write_str("value failed authentication"),
        }
    }
}

/// Encrypts `plaintext` for storage at `path` under `key` of `term`.
pub(crate) fn seal(
    key: &Key32,
    term: u32,
    path: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let body = aead::encrypt(key, path.as_bytes(), plaintext)?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The term a stored value was encrypted with.
pub(crate) fn term_of(blob: &[u8]) -> Result<u32, EnvelopeError> {
    if blob.len() < HEADER_LEN + aead::OVERHEAD {
        return Err(EnvelopeError::Truncated);
    }
    if blob[0] != FORMAT_VERSION {
        return Err(EnvelopeError::UnknownVersion(blob[0]));
    }
    let mut term = [0u8; 4];
    term.copy_from_slice(&blob[1..HEADER_LEN]);
    Ok(u32::from_be_bytes(term))
}

/// Decrypts a value stored at `path`; `key` must be the key of [`term_of`]`(blob)`.
pub(crate) fn open(
    key: &Key32,
    path: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    term_of(blob)?;
    aead::decrypt(key, path.as_bytes(), &blob[HEADER_LEN..]).map_err(|_| EnvelopeError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        let key = Key32::generate();
        let blob = seal(&key, 0x0102_0304, "a/b", b"hello").unwrap();
        assert_eq!(blob[0], 1);
        assert_eq!(&blob[1..5], &[1, 2, 3, 4]);
        assert_eq!(blob.len(), 5 + 12 + 5 + 16);
        assert_eq!(term_of(&blob), Ok(0x0102_0304));
        assert_eq!(open(&key, "a/b", &blob).unwrap().as_slice(), b"hello");
    }

    #[test]
    fn other_path_version_or_truncation_fails() {
        let key = Key32::generate();
        let blob = seal(&key, 1, "a/b", b"hello").unwrap();
        assert_eq!(open(&key, "a/c", &blob), Err(EnvelopeError::Decrypt));
        assert_eq!(
            open(&Key32::generate(), "a/b", &blob),
            Err(EnvelopeError::Decrypt)
        );
        let mut v2 = blob.clone();
        v2[0] = 2;
        assert_eq!(term_of(&v2), Err(EnvelopeError::UnknownVersion(2)));
        assert_eq!(
            term_of(&blob[..HEADER_LEN + 27]),
            Err(EnvelopeError::Truncated)
        );
        assert_eq!(term_of(&[]), Err(EnvelopeError::Truncated));
        let empty = seal(&key, 1, "k", b"").unwrap();
        assert_eq!(term_of(&empty), Ok(1));
        assert!(open(&key, "k", &empty).unwrap().is_empty());
    }
}
