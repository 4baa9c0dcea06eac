//! Errors of seals and of key ceremonies.

/// A seal operation failed. Every variant names the seal type it came from, so a message in a
/// log or an API response says which seal and why.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The seal's key is not present: for Shamir, the key shares have not been combined yet.
    #[error("{seal_type} seal: key is not available")]
    KeyUnavailable {
        /// The seal type.
        seal_type: &'static str,
    },
    /// The seal's key service cannot be reached or refused to answer. Retriable.
    #[error("{seal_type} seal: unavailable: {reason}")]
    Unavailable {
        /// The seal type.
        seal_type: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The wrapped key was produced by a different kind of seal.
    #[error("{seal_type} seal: cannot unwrap a key wrapped by the {found} seal")]
    WrongSealType {
        /// The seal type asked to unwrap.
        seal_type: &'static str,
        /// The seal type recorded in the wrapped key.
        found: String,
    },
    /// The wrapped key names a key id this seal does not have.
    #[error("{seal_type} seal: wrapped under key {key_id:?}, which this seal does not hold")]
    UnknownKeyId {
        /// The seal type.
        seal_type: &'static str,
        /// The key id recorded in the wrapped key.
        key_id: String,
    },
    /// The ciphertext did not authenticate: tampered with, or wrapped under another key.
    #[error("{seal_type} seal: failed to unwrap key: authentication failed")]
    Decrypt {
        /// The seal type.
        seal_type: &'static str,
    },
    /// Wrapping failed.
    #[error("{seal_type} seal: failed to wrap key: {reason}")]
    Encrypt {
        /// The seal type.
        seal_type: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A stored wrapped key did not parse.
    #[error("malformed wrapped key: {0}")]
    Malformed(String),
    /// A seal or recovery configuration is invalid (`kind` is "seal" or "recovery").
    #[error("invalid {kind} configuration: {reason}")]
    InvalidConfig {
        /// "seal" for the secret shares, "recovery" for recovery shares.
        kind: &'static str,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// Recovery parameters were given for a seal that has no recovery keys (Shamir).
    #[error("parameters specific to auto unseal seals present")]
    RecoveryParamsWithShamir,
    /// No seal of a [`SealSet`](crate::SealSet) could unwrap the key; one failure per seal
    /// (or per wrapped copy) tried, in order.
    #[error("no seal could unwrap the key: {}", join_errors(failures))]
    AllSealsFailed {
        /// Every failure, in the order the seals were tried.
        failures: Vec<SealError>,
    },
}

fn join_errors(errors: &[SealError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl SealError {
    /// Whether the failure is transient (the key service could not be reached or the key is
    /// not loaded yet), so retrying later may succeed. For [`SealError::AllSealsFailed`]: if
    /// any seal was merely unavailable.
    pub fn is_unavailable(&self) -> bool {
        match self {
            SealError::Unavailable { .. } | SealError::KeyUnavailable { .. } => true,
            SealError::AllSealsFailed { failures } => failures.iter().any(Self::is_unavailable),
            _ => false,
        }
    }
}

/// A key-ceremony step (unseal, generate-root, rekey) was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CeremonyError {
    /// This share was already given in the running operation.
    #[error("given key has already been provided during this {operation} operation")]
    DuplicateShare {
        /// The operation's name as used in messages ("unseal", "generation", "rekey", ...).
        operation: &'static str,
    },
    /// The nonce sent with a share is not the running operation's nonce.
    #[error("incorrect nonce")]
    NonceMismatch,
    /// The threshold has already been reached; take the shares or reset first.
    #[error("the required number of key shares has already been provided")]
    AlreadyComplete,
    /// An empty share was given.
    #[error("'key' must be specified in request body as JSON")]
    EmptyShare,
    /// A share is neither hex nor standard base64.
    #[error("'key' must be a valid hex or base64 string")]
    InvalidEncoding,
    /// A share decoded to an impossible length.
    #[error("key must be between {min} and {max} bytes, got {got}")]
    ShareLength {
        /// Shortest acceptable share.
        min: usize,
        /// Longest acceptable share.
        max: usize,
        /// The decoded length.
        got: usize,
    },
    /// The one-time pad and the token differ in length.
    #[error("OTP string is wrong length")]
    OtpLength,
    /// An encoded root token could not be decoded.
    #[error("invalid encoded token: {0}")]
    EncodedToken(&'static str),
}
