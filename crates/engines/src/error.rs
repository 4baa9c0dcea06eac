//! Errors of this crate.
//!
//! Request handling reports [`tresor_sdk::LogicalError`] as every backend does; this enum only
//! covers building an engine.

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The requested engine type does not exist.
    #[error("unknown secrets engine type: {0:?}")]
    UnknownType(String),
    /// The `version` option of a `kv` mount is neither `1` nor `2`.
    #[error("invalid KV version {0:?}: must be 1 or 2")]
    InvalidKvVersion(String),
}
