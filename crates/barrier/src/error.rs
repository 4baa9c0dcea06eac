//! Errors of the barrier's lifecycle operations.

use tresor_crypto::CryptoError;
use tresor_storage::StorageError;

/// A barrier lifecycle operation failed. Value reads and writes go through the
/// [`tresor_storage::Backend`] interface and report [`StorageError`] instead (this type converts
/// into it).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is sealed: no keys in memory.
    #[error("Vault is sealed")]
    Sealed,
    /// There is no keyring in storage yet.
    #[error("Vault is not initialized")]
    NotInitialized,
    /// A keyring already exists; initializing again would orphan every stored value.
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// The root key does not decrypt the keyring.
    #[error("unseal failed, invalid key")]
    InvalidKey,
    /// The stored keyring decrypted but is unusable.
    #[error("keyring is corrupt: {0}")]
    CorruptKeyring(String),
    /// The physical store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A cryptographic operation failed unexpectedly.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<BarrierError> for StorageError {
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Sealed => StorageError::Sealed,
            BarrierError::Storage(inner) => inner,
            BarrierError::CorruptKeyring(reason) => StorageError::Corrupt {
                key: crate::KEYRING_PATH.to_owned(),
                reason,
            },
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}
