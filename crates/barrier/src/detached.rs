//! Values sealed by the barrier but not stored through it (the sealed checksums of a
//! snapshot archive): the same envelope as stored values, under the active term, with a
//! caller-chosen name as associated data.

use std::sync::atomic::Ordering;

use crate::envelope;
use crate::{Barrier, BarrierError};

impl Barrier {
    /// Encrypts `plaintext` under the active key term with `name` as associated data. Only a
    /// barrier holding the same keyring opens it ([`Barrier::open_detached`]).
    pub fn seal_detached(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let state = self.unsealed()?;
        let active = state.keyring.active();
        let blob = envelope::seal(&active.key, active.term, name, plaintext)?;
        state.encryptions.fetch_add(1, Ordering::Relaxed);
        Ok(blob)
    }

    /// Decrypts a value made by [`Barrier::seal_detached`] with the same `name`.
    /// [`BarrierError::InvalidKey`] if this keyring does not hold its term or it fails
    /// authentication.
    pub fn open_detached(&self, name: &str, blob: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let state = self.unsealed()?;
        let term = envelope::term_of(blob).map_err(|_| BarrierError::InvalidKey)?;
        let key = state.keyring.get(term).ok_or(BarrierError::InvalidKey)?;
        let plain = envelope::open(&key.key, name, blob).map_err(|_| BarrierError::InvalidKey)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tresor_crypto::Key32;
    use tresor_storage::InMemBackend;

    use super::*;

    #[tokio::test]
    async fn sealed_values_open_only_with_the_same_keyring_and_name() {
        let a = Barrier::new(Arc::new(InMemBackend::new()));
        let b = Barrier::new(Arc::new(InMemBackend::new()));
        for (barrier, key) in [(&a, Key32::generate()), (&b, Key32::generate())] {
            barrier.initialize(&key).await.unwrap();
            barrier.unseal(&key).await.unwrap();
        }
        let blob = a.seal_detached("snapshot/sums", b"sums").unwrap();
        assert_eq!(a.open_detached("snapshot/sums", &blob).unwrap(), b"sums");
        assert!(matches!(
            a.open_detached("other", &blob),
            Err(BarrierError::InvalidKey)
        ));
        assert!(matches!(
            b.open_detached("snapshot/sums", &blob),
            Err(BarrierError::InvalidKey)
        ));
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(a.open_detached("snapshot/sums", &bad).is_err());
    }
}
