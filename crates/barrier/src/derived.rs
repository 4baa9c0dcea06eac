//! Keys derived from the keyring's data keys for uses outside storage (the sealing of batch
//! tokens). A derived key is HMAC-SHA256 keyed with one term's data key over a fixed label and
//! the caller's purpose, so it differs per purpose and per term, never reveals the data key,
//! and every node holding the same keyring derives the same key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tresor_crypto::Key32;

use crate::{Barrier, BarrierError};

const LABEL: &[u8] = b"tresor barrier derived key v1\0";

fn derive(data_key: &Key32, purpose: &str) -> Result<Key32, BarrierError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(data_key.as_bytes())
        .map_err(|_| BarrierError::InvalidKey)?;
    mac.update(LABEL);
    mac.update(purpose.as_bytes());
    let out = mac.finalize().into_bytes();
    Ok(Key32::from_slice(&out)?)
}

impl Barrier {
    /// The key for `purpose` derived from the active term's data key, with that term. Values
    /// sealed with it can be opened while the keyring holds the term
    /// ([`Barrier::derived_key_for_term`]), across rotations.
    pub fn derived_key(&self, purpose: &str) -> Result<(u32, Key32), BarrierError> {
        let state = self.unsealed()?;
        let active = state.keyring.active();
        Ok((active.term, derive(&active.key, purpose)?))
    }

    /// The key for `purpose` derived from the data key of `term`; [`BarrierError::InvalidKey`]
    /// if the keyring does not hold that term.
    pub fn derived_key_for_term(&self, purpose: &str, term: u32) -> Result<Key32, BarrierError> {
        let state = self.unsealed()?;
        let key = state.keyring.get(term).ok_or(BarrierError::InvalidKey)?;
        derive(&key.key, purpose)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tresor_storage::InMemBackend;

    use super::*;

    async fn unsealed() -> Barrier {
        let b = Barrier::new(Arc::new(InMemBackend::new()));
        let root = Key32::generate();
        b.initialize(&root).await.unwrap();
        b.unseal(&root).await.unwrap();
        b
    }

    #[tokio::test]
    async fn derived_keys_differ_per_purpose_and_term_and_survive_rotation() {
        let b = unsealed().await;
        let (t1, k1) = b.derived_key("batch-token").unwrap();
        let (_, other) = b.derived_key("other").unwrap();
        assert_ne!(k1.as_bytes(), other.as_bytes());
        let active = b.unsealed().unwrap().keyring.active().key.clone();
        assert_ne!(
            k1.as_bytes(),
            active.as_bytes(),
            "never the data key itself"
        );

        let t2 = b.rotate().await.unwrap();
        let (now, k2) = b.derived_key("batch-token").unwrap();
        assert_eq!(now, t2);
        assert_ne!(k1.as_bytes(), k2.as_bytes());
        let again = b.derived_key_for_term("batch-token", t1).unwrap();
        assert_eq!(again.as_bytes(), k1.as_bytes(), "old terms still derive");
        assert!(matches!(
            b.derived_key_for_term("batch-token", 99),
            Err(BarrierError::InvalidKey)
        ));

        let stranger = unsealed().await;
        let (_, k3) = stranger.derived_key("batch-token").unwrap();
        assert_ne!(k3.as_bytes(), k2.as_bytes());
        b.seal();
        assert!(matches!(
            b.derived_key("batch-token"),
            Err(BarrierError::Sealed)
        ));
    }
}
