//! The Shamir seal: the root key is wrapped under a key-encryption key (KEK) that exists only
//! after operators' key shares have been combined.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tresor_crypto::{Key32, aead};
use zeroize::Zeroizing;

use crate::seal::check_seal_type;
use crate::{Seal, SealError, WrappedKey};

const SEAL_TYPE: &str = "shamir";
const AAD: &[u8] = b"tresor/shamir/root-key";

/// A seal whose key-encryption key is reconstructed from operator shares. The core combines
/// the shares (`tresor_crypto::shamir::combine`), hands the result to [`ShamirSeal::set_kek`],
/// unwraps the root key, and may [`ShamirSeal::clear_kek`] afterwards.
#[derive(Default)]
pub struct ShamirSeal {
    kek: RwLock<Option<Key32>>,
}

impl std::fmt::Debug for ShamirSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShamirSeal")
            .field("has_kek", &self.has_kek())
            .finish()
    }
}

impl ShamirSeal {
    /// A seal without a KEK: wrap and unwrap fail with [`SealError::KeyUnavailable`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the key-encryption key (replacing any previous one).
    pub fn set_kek(&self, kek: Key32) {
        *self.write() = Some(kek);
    }

    /// Drops (and zeroizes) the key-encryption key.
    pub fn clear_kek(&self) {
        *self.write() = None;
    }

    /// Whether a key-encryption key is installed.
    pub fn has_kek(&self) -> bool {
        self.read().is_some()
    }

    fn kek(&self) -> Result<Key32, SealError> {
        self.read().clone().ok_or(SealError::KeyUnavailable {
            seal_type: SEAL_TYPE,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Key32>> {
        // The guarded value is replaced in a single assignment, so a poisoned lock still holds
        // a consistent value.
        self.kek.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Key32>> {
        self.kek.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A short, non-secret identifier of a KEK: the first 8 bytes of a domain-separated SHA-256.
fn key_id(kek: &Key32) -> String {
    let mut h = Sha256::new();
    h.update(b"tresor/shamir/kek-id\0");
    h.update(kek.as_bytes());
    hex::encode(&h.finalize()[..8])
}

#[async_trait]
impl Seal for ShamirSeal {
    fn seal_type(&self) -> &'static str {
        SEAL_TYPE
    }

    fn is_auto(&self) -> bool {
        false
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        let kek = self.kek()?;
        let ciphertext = aead::encrypt(&kek, AAD, plaintext).map_err(|e| SealError::Encrypt {
            seal_type: SEAL_TYPE,
            reason: e.to_string(),
        })?;
        Ok(WrappedKey {
            seal_type: SEAL_TYPE.to_owned(),
            key_id: key_id(&kek),
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        check_seal_type(SEAL_TYPE, wrapped)?;
        let kek = self.kek()?;
        // A different key id means the shares combined to a different KEK: do not even try.
        if wrapped.key_id != key_id(&kek) {
            return Err(SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: wrapped.key_id.clone(),
            });
        }
        aead::decrypt(&kek, AAD, &wrapped.ciphertext).map_err(|_| SealError::Decrypt {
            seal_type: SEAL_TYPE,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn passes_conformance_with_a_kek() {
        let seal = ShamirSeal::new();
        seal.set_kek(Key32::generate());
        crate::conformance::run(&seal).await;
        let other = ShamirSeal::new();
        other.set_kek(Key32::generate());
        crate::conformance::check_foreign_instance_refused(&seal, &other).await;
    }

    #[tokio::test]
    async fn without_kek_nothing_works() {
        let seal = ShamirSeal::new();
        assert!(!seal.is_auto());
        assert!(!seal.has_kek());
        let err = seal.wrap(b"root").await.unwrap_err();
        assert_eq!(
            err,
            SealError::KeyUnavailable {
                seal_type: "shamir"
            }
        );

        let kek = Key32::generate();
        seal.set_kek(kek.clone());
        assert!(seal.has_kek());
        let wrapped = seal.wrap(b"root").await.unwrap();
        seal.clear_kek();
        assert!(!seal.has_kek());
        assert_eq!(
            seal.unwrap(&wrapped).await.unwrap_err(),
            SealError::KeyUnavailable {
                seal_type: "shamir"
            }
        );
        seal.set_kek(kek);
        assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"root");
    }

    #[tokio::test]
    async fn kek_from_shares_unwraps_and_wrong_shares_do_not() {
        let kek = Key32::generate();
        let shares = tresor_crypto::shamir::split(kek.as_bytes(), 5, 3).unwrap();
        let seal: Arc<dyn Seal> = {
            let s = ShamirSeal::new();
            s.set_kek(kek);
            Arc::new(s)
        };
        let root = Key32::generate();
        let wrapped = seal.wrap(root.as_bytes()).await.unwrap();

        let later = ShamirSeal::new();
        let picked: Vec<&[u8]> = vec![&shares[4], &shares[0], &shares[2]];
        later
            .set_kek(Key32::from_slice(&tresor_crypto::shamir::combine(&picked).unwrap()).unwrap());
        assert_eq!(
            later.unwrap(&wrapped).await.unwrap().as_slice(),
            root.as_bytes()
        );

        let too_few: Vec<&[u8]> = vec![&shares[1], &shares[3]];
        later.set_kek(
            Key32::from_slice(&tresor_crypto::shamir::combine(&too_few).unwrap()).unwrap(),
        );
        assert!(matches!(
            later.unwrap(&wrapped).await,
            Err(SealError::UnknownKeyId { .. })
        ));
    }

    #[test]
    fn debug_shows_no_key() {
        let seal = ShamirSeal::new();
        seal.set_kek(Key32::from_slice(&[0x42; 32]).unwrap());
        assert_eq!(format!("{seal:?}"), "ShamirSeal { has_kek: true }");
    }
}
