//! The 256-bit key type.

use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length in bytes of every symmetric key Tresor uses.
pub const KEY_LEN: usize = 32;

/// A 256-bit symmetric key. The bytes are zeroized when the value is dropped, `Debug` never
/// shows them, and equality is constant-time.
#[derive(Clone)]
pub struct Key32(Zeroizing<[u8; KEY_LEN]>);

impl Key32 {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Key32(bytes)
    }

    /// A key copied from `bytes`, which must be exactly [`KEY_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::KeyLength {
                expected: KEY_LEN,
                got: bytes.len(),
            });
        }
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        out.copy_from_slice(bytes);
        Ok(Key32(out))
    }

    /// The raw key bytes. Do not copy them into memory that is not zeroized.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

impl PartialEq for Key32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for Key32 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = Key32::generate();
        let b = Key32::generate();
        assert_ne!(a, b);
        let copy = Key32::from_slice(a.as_bytes()).unwrap();
        assert_eq!(a, copy);
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(
            Key32::from_slice(&[0u8; 31]),
            Err(CryptoError::KeyLength {
                expected: 32,
                got: 31
            })
        );
        assert!(Key32::from_slice(&[0u8; 33]).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let key = Key32::from_slice(&[0xAB; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }
}
