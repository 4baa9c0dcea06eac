//! The error type of this crate.

/// Everything that can go wrong in a cryptographic operation. Messages never contain key
/// material or plaintext.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Key material of the wrong length.
    #[error("invalid key length: expected {expected} bytes, got {got}")]
    KeyLength {
        /// The required length.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// Encryption failed (only possible for absurdly large inputs).
    #[error("encryption failed")]
    Encrypt,
    /// The ciphertext did not authenticate: it was tampered with, truncated, or encrypted under
    /// another key or associated data.
    #[error("message authentication failed")]
    Decrypt,
    /// Parameters of a Shamir split are out of range.
    #[error("invalid secret sharing parameters: {0}")]
    ShamirParams(&'static str),
    /// Shares given to a Shamir combine are unusable.
    #[error("invalid secret shares: {0}")]
    ShamirShares(&'static str),
    /// A serialized keyring did not parse or violates its invariants.
    #[error("invalid keyring: {0}")]
    Keyring(String),
    /// Locking memory failed (typically missing `CAP_IPC_LOCK` or a low `RLIMIT_MEMLOCK`).
    #[error("failed to lock memory: {0}")]
    MemoryLock(String),
}
