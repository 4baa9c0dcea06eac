//! Errors of the expiration manager.

use tresor_storage::StorageError;

/// What can go wrong with a lease operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpirationError {
    /// No lease with this id (or it expired).
    #[error("lease not found")]
    NotFound,
    /// The request is not valid for this lease (not renewable, bad increment).
    #[error("{0}")]
    Invalid(String),
    /// The backend refused or failed to renew or revoke the secret.
    #[error("failed to {action} entry: {message}")]
    Backend {
        /// `renew` or `revoke`.
        action: &'static str,
        /// The backend's error.
        message: String,
    },
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored lease entry is unreadable.
    #[error("corrupt lease entry {id}: {source}")]
    Corrupt {
        /// The lease id.
        id: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}
