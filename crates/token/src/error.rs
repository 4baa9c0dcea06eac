//! Errors of the token store.

use tresor_sdk::LogicalError;
use tresor_storage::StorageError;

/// What can go wrong in the token store. Non-exhaustive: callers should treat unknown variants
/// as internal faults. [`From<TokenError> for LogicalError`](LogicalError) maps them onto the
/// backend contract (400, 403, storage, 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request is malformed or breaks a token rule (subset rule, not renewable, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// The token is unknown, expired or revoked, or the caller may not do this.
    #[error("permission denied")]
    PermissionDenied,
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The keys batch tokens are sealed with are unavailable, or sealing failed.
    #[error("batch token keys: {0}")]
    Keys(String),
    /// A stored record did not decode.
    #[error("corrupt token store record at {key}: {reason}")]
    Corrupt {
        /// The view-relative key of the record.
        key: String,
        /// Why it did not decode.
        reason: String,
    },
}

impl TokenError {
    /// Shorthand for [`TokenError::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        TokenError::InvalidRequest(msg.into())
    }
}

impl From<TokenError> for LogicalError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::InvalidRequest(m) => LogicalError::InvalidRequest(m),
            TokenError::PermissionDenied => LogicalError::PermissionDenied,
            TokenError::Storage(s) => LogicalError::Storage(s),
            e @ (TokenError::Corrupt { .. } | TokenError::Keys(_)) => {
                LogicalError::Internal(e.to_string())
            }
        }
    }
}
