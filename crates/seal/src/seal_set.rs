//! An ordered set of auto seals: the root key is wrapped under every seal, and any one seal
//! that can unwrap its copy unseals (seal high availability).

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::{Seal, SealError, WrappedKey};

/// The auto seals a node is configured with, in priority order. A key is wrapped under each
/// seal ([`SealSet::wrap_all`]) and unwrapped by the first seal that manages to unwrap one of
/// the copies ([`SealSet::unwrap_any`]), so losing one seal's key service (or the key itself)
/// does not lose the data while another seal still works.
#[derive(Clone)]
pub struct SealSet {
    seals: Vec<Arc<dyn Seal>>,
}

impl std::fmt::Debug for SealSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<&str> = self.seals.iter().map(|s| s.seal_type()).collect();
        f.debug_struct("SealSet").field("seals", &types).finish()
    }
}

impl SealSet {
    /// A set of `seals` in priority order. `None` when the list is empty.
    pub fn new(seals: Vec<Arc<dyn Seal>>) -> Option<Self> {
        if seals.is_empty() {
            None
        } else {
            Some(SealSet { seals })
        }
    }

    /// A set of one seal.
    pub fn single(seal: Arc<dyn Seal>) -> Self {
        SealSet { seals: vec![seal] }
    }

    /// The seals, in priority order.
    pub fn seals(&self) -> &[Arc<dyn Seal>] {
        &self.seals
    }

    /// The type of the first (highest priority) seal, as reported in `sys/seal-status`.
    pub fn seal_type(&self) -> &'static str {
        self.seals
            .first()
            .map(|s| s.seal_type())
            .unwrap_or("shamir")
    }

    /// Wraps `plaintext` under every seal, in order. Fails with the first seal's error if any
    /// seal cannot wrap (a key wrapped under only some seals would silently lose the
    /// redundancy the set promises).
    pub async fn wrap_all(&self, plaintext: &[u8]) -> Result<Vec<WrappedKey>, SealError> {
        let mut out = Vec::with_capacity(self.seals.len());
        for seal in &self.seals {
            out.push(seal.wrap(plaintext).await?);
        }
        Ok(out)
    }

    /// Unwraps the first copy in `wrapped` that one of the seals (tried in priority order, each
    /// only on copies recorded with its own seal type) can unwrap. When none can, the error
    /// lists every seal's failure.
    pub async fn unwrap_any(
        &self,
        wrapped: &[WrappedKey],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut failures = Vec::new();
        for seal in &self.seals {
            let mine: Vec<&WrappedKey> = wrapped
                .iter()
                .filter(|w| w.seal_type == seal.seal_type())
                .collect();
            if mine.is_empty() {
                failures.push(SealError::WrongSealType {
                    seal_type: seal.seal_type(),
                    found: found_types(wrapped),
                });
                continue;
            }
            for w in mine {
                match seal.unwrap(w).await {
                    Ok(k) => return Ok(k),
                    Err(e) => failures.push(e),
                }
            }
        }
        match failures.len() {
            1 => Err(failures.remove(0)),
            _ => Err(SealError::AllSealsFailed { failures }),
        }
    }
}

fn found_types(wrapped: &[WrappedKey]) -> String {
    if wrapped.is_empty() {
        return "no".into();
    }
    let mut types: Vec<&str> = wrapped.iter().map(|w| w.seal_type.as_str()).collect();
    types.dedup();
    types.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestSeal;

    #[tokio::test]
    async fn any_available_seal_unwraps() {
        let a = Arc::new(TestSeal::new());
        let b = Arc::new(TestSeal::new());
        let set = SealSet::new(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(set.seal_type(), "test");
        let wrapped = set.wrap_all(b"root key").await.unwrap();
        assert_eq!(wrapped.len(), 2);
        a.set_available(false);
        assert_eq!(
            set.unwrap_any(&wrapped).await.unwrap().as_slice(),
            b"root key"
        );
        a.set_available(true);
        b.set_available(false);
        assert_eq!(
            set.unwrap_any(&wrapped).await.unwrap().as_slice(),
            b"root key"
        );
        a.set_available(false);
        let err = set.unwrap_any(&wrapped).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("test seal: unavailable"), "{text}");
        // Wrapping needs every seal.
        assert!(set.wrap_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn foreign_copies_are_refused_with_every_reason() {
        let set = SealSet::single(Arc::new(TestSeal::new()));
        let other = SealSet::single(Arc::new(TestSeal::new()));
        let wrapped = other.wrap_all(b"k").await.unwrap();
        let err = set.unwrap_any(&wrapped).await.unwrap_err();
        assert!(!err.is_unavailable());
        assert!(err.to_string().contains("test seal"), "{err}");
        let shamir = WrappedKey {
            seal_type: "shamir".into(),
            key_id: "x".into(),
            ciphertext: vec![1, 2, 3],
        };
        let err = set.unwrap_any(&[shamir]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "test seal: cannot unwrap a key wrapped by the shamir seal"
        );
        assert!(SealSet::new(Vec::new()).is_none());
    }
}
