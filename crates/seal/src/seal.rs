//! The seal abstraction.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::{SealError, WrappedKey};

/// Something that can wrap (encrypt) and unwrap the root key. Implementations are shared as
/// `Arc<dyn Seal>` and must keep any mutable state behind interior locks.
#[async_trait]
pub trait Seal: Send + Sync {
    /// The seal type as reported in `sys/seal-status` and recorded in [`WrappedKey`]:
    /// "shamir", "awskms", "transit", ...
    fn seal_type(&self) -> &'static str;

    /// Whether the seal unseals on its own. False for Shamir, which needs operator shares;
    /// auto seals use recovery shares for operator ceremonies instead.
    fn is_auto(&self) -> bool;

    /// Encrypts `plaintext` under the seal's current key.
    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError>;

    /// Decrypts a key wrapped by this seal (possibly under an older key of the same seal).
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// Refuses a wrapped key recorded for a different seal type.
pub(crate) fn check_seal_type(
    seal_type: &'static str,
    wrapped: &WrappedKey,
) -> Result<(), SealError> {
    if wrapped.seal_type == seal_type {
        Ok(())
    } else {
        Err(SealError::WrongSealType {
            seal_type,
            found: wrapped.seal_type.clone(),
        })
    }
}
