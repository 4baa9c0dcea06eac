//! The error of the snapshot format.

/// What can go wrong writing or reading a snapshot archive.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The gzip stream is broken or ends early.
    #[error("failed to decompress snapshot: {0}")]
    Decompress(String),
    /// The archive or one of its files does not have the expected structure.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// A file does not match its recorded SHA-256.
    #[error("snapshot integrity check failed: {0}")]
    Checksum(String),
    /// A field is larger than the format allows.
    #[error("snapshot too large: {0}")]
    TooLarge(String),
    /// Sealing the checksums failed (reported by the caller's sealing function).
    #[error("sealing the snapshot checksums failed: {0}")]
    Seal(String),
    /// Writing the output (or a spool file) failed.
    #[error("snapshot I/O error: {0}")]
    Io(#[from] std::io::Error),
}
