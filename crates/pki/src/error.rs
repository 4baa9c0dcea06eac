//! The PKI engine's error type, and how it reaches the core as a [`LogicalError`].

use tresor_sdk::LogicalError;
use tresor_storage::StorageError;

/// What went wrong in the PKI engine.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The request cannot be served as asked (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No endpoint at this path (HTTP 404).
    #[error("unsupported path")]
    Unsupported,
    /// The endpoint does not take this operation (HTTP 405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The mount has no CA yet.
    #[error(
        "no default issuer currently configured: generate a root first (root/generate/internal)"
    )]
    NoCa,
    /// Building or signing a certificate or CRL failed.
    #[error("certificate encoding: {0}")]
    Cert(#[from] rcgen::Error),
    /// Key generation or key encoding failed.
    #[error("{0}")]
    Crypto(String),
    /// A stored entry does not decode.
    #[error("stored entry {path:?} is corrupt: {reason}")]
    Corrupt {
        /// The storage key.
        path: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The mount's storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A blocking task (key generation) did not finish.
    #[error("key generation task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<PkiError> for LogicalError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Invalid(m) => LogicalError::InvalidRequest(m),
            PkiError::NoCa => LogicalError::InvalidRequest(e.to_string()),
            PkiError::Storage(s) => LogicalError::Storage(s),
            PkiError::Unsupported => LogicalError::UnsupportedPath,
            PkiError::UnsupportedOperation => LogicalError::UnsupportedOperation,
            other => LogicalError::Internal(other.to_string()),
        }
    }
}
