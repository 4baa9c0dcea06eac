//! Errors of the core layer. The http layer maps each to a status code and Vault's
//! `{"errors": [...]}` body; nothing here knows about HTTP.

use tresor_sdk::LogicalError;
use tresor_storage::StorageError;

/// What a core operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The barrier is sealed (HTTP 503).
    #[error("Vault is sealed")]
    Sealed,
    /// The server has not been initialized (HTTP 400 on most endpoints, 501 on health).
    #[error("Vault is not initialized")]
    NotInitialized,
    /// `sys/init` on an initialized server (HTTP 400).
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// Missing/invalid token or an ACL denial (HTTP 403).
    #[error("permission denied")]
    PermissionDenied,
    /// Malformed request or a request not allowed in the current state (HTTP 400).
    #[error("{0}")]
    InvalidRequest(String),
    /// No route for the path (HTTP 404).
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path does not take this operation (HTTP 405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// This node is a standby and cannot serve the request itself (HTTP 503 retriable, or
    /// forwarded by the cluster layer).
    #[error("node is not active{}", leader.as_ref().map(|l| format!("; active node: {l}")).unwrap_or_default())]
    Standby {
        /// The active node's API address, if known.
        leader: Option<String>,
    },
    /// The node believed it was active but could not confirm with a quorum that it still
    /// leads; the request was refused before it was processed (HTTP 503, safe to retry).
    #[error(
        "this node could not confirm that it is still the active node; the request was not processed, retry"
    )]
    LeadershipUnconfirmed,
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(StorageError),
    /// A seal could not wrap or unwrap a key (its key service is unreachable, or it holds
    /// another key); the message names the seal and the reason (HTTP 500).
    #[error("{0}")]
    Seal(String),
    /// No audit device could record the request or its response; the request was refused
    /// (fail closed, HTTP 500 "internal error").
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The lease of a response could not be registered (HTTP 500); the secret is not
    /// returned without it.
    #[error("failed to register the lease: {0}")]
    Lease(#[source] tresor_expiration::ExpirationError),
    /// The barrier failed underneath a lifecycle step (its storage, or a key that does not
    /// decrypt); the cause is kept.
    #[error("{context}: {source}")]
    Barrier {
        /// What the core was doing.
        context: &'static str,
        /// Why the barrier failed.
        #[source]
        source: tresor_barrier::BarrierError,
    },
    /// The token store failed underneath a lifecycle step (creating a root token); the cause
    /// is kept.
    #[error("{context}: {source}")]
    Token {
        /// What the core was doing.
        context: &'static str,
        /// Why the token store failed.
        #[source]
        source: tresor_token::TokenError,
    },
    /// A snapshot archive could not be read or written: damaged, truncated, not a snapshot,
    /// or an I/O failure (HTTP 500, as OpenBao answers); nothing was changed.
    #[error("{0}")]
    Snapshot(String),
    /// A bug or an unexpected state (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::InvalidRequest(msg.into())
    }

    /// Whether the failure is transient and the request may be retried as it is (a storage
    /// layer that is unavailable, wherever it surfaced).
    pub fn is_retriable(&self) -> bool {
        match self {
            CoreError::Standby { .. } | CoreError::LeadershipUnconfirmed => true,
            CoreError::Storage(s) => s.is_retriable(),
            CoreError::Barrier {
                source: tresor_barrier::BarrierError::Storage(s),
                ..
            } => s.is_retriable(),
            CoreError::Token {
                source: tresor_token::TokenError::Storage(s),
                ..
            } => s.is_retriable(),
            _ => false,
        }
    }

    /// A barrier failure while `context`.
    pub(crate) fn barrier(
        context: &'static str,
    ) -> impl FnOnce(tresor_barrier::BarrierError) -> Self {
        move |source| CoreError::Barrier { context, source }
    }

    /// A token store failure while `context`.
    pub(crate) fn token(context: &'static str) -> impl FnOnce(tresor_token::TokenError) -> Self {
        move |source| CoreError::Token { context, source }
    }
}

impl From<StorageError> for CoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Sealed => CoreError::Sealed,
            StorageError::NotLeader { leader } => CoreError::Standby { leader },
            other => CoreError::Storage(other),
        }
    }
}

/// The answers of the lease endpoints: an unknown lease or a refused renewal or revocation is
/// the caller's 400, as Vault answers; storage keeps its own mapping.
impl From<tresor_expiration::ExpirationError> for CoreError {
    fn from(e: tresor_expiration::ExpirationError) -> Self {
        use tresor_expiration::ExpirationError as E;
        match e {
            E::NotFound => CoreError::invalid("lease not found"),
            E::Invalid(m) => CoreError::InvalidRequest(m),
            e @ E::Backend { .. } => CoreError::InvalidRequest(e.to_string()),
            E::Storage(s) => CoreError::from(s),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<LogicalError> for CoreError {
    fn from(e: LogicalError) -> Self {
        match e {
            LogicalError::InvalidRequest(m) => CoreError::InvalidRequest(m),
            LogicalError::PermissionDenied => CoreError::PermissionDenied,
            LogicalError::UnsupportedPath => CoreError::UnsupportedPath,
            LogicalError::UnsupportedOperation => CoreError::UnsupportedOperation,
            LogicalError::Storage(s) => s.into(),
            LogicalError::Internal(m) => CoreError::Internal(m),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for CoreError {
    fn from(e: serde_json::Error) -> Self {
        CoreError::Internal(format!("encoding: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_storage_outage_stays_retriable_through_every_layer() {
        let down = || StorageError::Unavailable("raft: no quorum".into());
        assert!(CoreError::from(down()).is_retriable());
        let barrier = CoreError::barrier("reloading keyring")(down().into());
        assert!(barrier.is_retriable());
        assert!(barrier.source().is_some(), "the cause is kept");
        let token = CoreError::token("creating the root token")(down().into());
        assert!(token.is_retriable());
        assert!(token.to_string().contains("no quorum"), "{token}");
        let logical = CoreError::from(LogicalError::from(
            tresor_token::TokenError::Storage(down()),
        ));
        assert!(logical.is_retriable());
        assert!(!CoreError::Internal("bug".into()).is_retriable());
        let bad_key = CoreError::barrier("failed to unseal barrier")(
            tresor_barrier::BarrierError::InvalidKey,
        );
        assert!(!bad_key.is_retriable());
    }
}
