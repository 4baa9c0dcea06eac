//! An in-memory auto seal for tests, with switches to make it fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use async_trait::async_trait;
use tresor_crypto::{Key32, aead, random_base62};
use zeroize::Zeroizing;

use crate::seal::check_seal_type;
use crate::{Seal, SealError, WrappedKey};

const SEAL_TYPE: &str = "test";
const AAD: &[u8] = b"tresor/test-seal";

/// An auto seal whose keys live in memory, standing in for a KMS in tests. It keeps every key
/// it ever had (like a KMS keeps key versions): [`TestSeal::rotate_key`] starts wrapping under
/// a new key id while older wrapped keys still unwrap. [`TestSeal::set_available`] makes every
/// call fail as if the key service were unreachable.
pub struct TestSeal {
    /// (key id, key), the last one is current.
    keys: RwLock<Vec<(String, Key32)>>,
    available: AtomicBool,
}

impl std::fmt::Debug for TestSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSeal")
            .field("current_key_id", &self.current_key_id())
            .field("available", &self.available.load(Ordering::SeqCst))
            .finish()
    }
}

impl Default for TestSeal {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSeal {
    /// A working seal with one fresh key.
    pub fn new() -> Self {
        TestSeal {
            keys: RwLock::new(vec![new_key()]),
            available: AtomicBool::new(true),
        }
    }

    /// Makes every later wrap/unwrap succeed (`true`) or fail with
    /// [`SealError::Unavailable`] (`false`).
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// Switches to a fresh key for new wraps and returns its id; old keys are kept.
    pub fn rotate_key(&self) -> String {
        let (id, key) = new_key();
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((id.clone(), key));
        id
    }

    /// Forgets every key except the current one (as if old KMS key versions were destroyed).
    pub fn destroy_old_keys(&self) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let keep = keys.len().saturating_sub(1);
        keys.drain(..keep);
    }

    /// The id new wraps are recorded with.
    pub fn current_key_id(&self) -> String {
        self.read()
            .last()
            .map(|(id, _)| id.clone())
            .unwrap_or_default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<(String, Key32)>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn check_available(&self) -> Result<(), SealError> {
        if self.available.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason: "test seal switched off".into(),
            })
        }
    }
}

fn new_key() -> (String, Key32) {
    (format!("test-{}", random_base62(12)), Key32::generate())
}

#[async_trait]
impl Seal for TestSeal {
    fn seal_type(&self) -> &'static str {
        SEAL_TYPE
    }

    fn is_auto(&self) -> bool {
        true
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        self.check_available()?;
        let (key_id, key) = self
            .read()
            .last()
            .cloned()
            .ok_or(SealError::KeyUnavailable {
                seal_type: SEAL_TYPE,
            })?;
        let ciphertext = aead::encrypt(&key, AAD, plaintext).map_err(|e| SealError::Encrypt {
            seal_type: SEAL_TYPE,
            reason: e.to_string(),
        })?;
        Ok(WrappedKey {
            seal_type: SEAL_TYPE.to_owned(),
            key_id,
            ciphertext,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.check_available()?;
        check_seal_type(SEAL_TYPE, wrapped)?;
        let key = self
            .read()
            .iter()
            .find(|(id, _)| *id == wrapped.key_id)
            .map(|(_, key)| key.clone())
            .ok_or_else(|| SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: wrapped.key_id.clone(),
            })?;
        aead::decrypt(&key, AAD, &wrapped.ciphertext).map_err(|_| SealError::Decrypt {
            seal_type: SEAL_TYPE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_conformance() {
        let seal = TestSeal::new();
        assert!(seal.is_auto());
        crate::conformance::run(&seal).await;
        crate::conformance::check_foreign_instance_refused(&seal, &TestSeal::new()).await;
    }

    #[tokio::test]
    async fn rotated_keys_still_unwrap_by_key_id() {
        let seal = TestSeal::new();
        let old = seal.wrap(b"one").await.unwrap();
        let new_id = seal.rotate_key();
        assert_ne!(old.key_id, new_id);
        let new = seal.wrap(b"two").await.unwrap();
        assert_eq!(new.key_id, new_id);
        assert_eq!(seal.unwrap(&old).await.unwrap().as_slice(), b"one");
        assert_eq!(seal.unwrap(&new).await.unwrap().as_slice(), b"two");
        seal.destroy_old_keys();
        assert!(matches!(
            seal.unwrap(&old).await,
            Err(SealError::UnknownKeyId {
                seal_type: "test",
                ..
            })
        ));
        assert_eq!(seal.unwrap(&new).await.unwrap().as_slice(), b"two");
    }

    #[tokio::test]
    async fn switched_off_seal_fails_and_recovers() {
        let seal = TestSeal::new();
        let wrapped = seal.wrap(b"k").await.unwrap();
        seal.set_available(false);
        let err = seal.unwrap(&wrapped).await.unwrap_err();
        assert!(matches!(err, SealError::Unavailable { .. }));
        assert!(err.to_string().contains("test seal"), "{err}");
        assert!(seal.wrap(b"k").await.is_err());
        seal.set_available(true);
        assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"k");
    }
}
