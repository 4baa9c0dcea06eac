//! Errors of the storage layer.

/// What can go wrong below the barrier. Non-exhaustive: new storage implementations may add
/// causes, callers should treat unknown variants as internal faults.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// This node cannot accept writes because it is not the Raft leader.
    #[error("node is not the active node{}", leader.as_ref().map(|l| format!(" (leader: {l})")).unwrap_or_default())]
    NotLeader {
        /// The current leader's node id, if known.
        leader: Option<String>,
    },
    /// Storage is not available right now (shutting down, no quorum, not yet started). Retriable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The outcome of a write is unknown (e.g. leadership lost after proposing); the caller
    /// must not assume it was or was not applied.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// A key or value was refused (empty key, too large, ...).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// Data read back did not decode or authenticate.
    #[error("corrupt data at {key}: {reason}")]
    Corrupt {
        /// The key whose value is corrupt.
        key: String,
        /// Why it is considered corrupt.
        reason: String,
    },
    /// The barrier is sealed: no key to encrypt or decrypt with.
    #[error("Vault is sealed")]
    Sealed,
    /// An I/O or database fault.
    #[error("storage I/O error: {0}")]
    Io(String),
}

impl StorageError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StorageError::NotLeader { .. } | StorageError::Unavailable(_)
        )
    }
}
