//! The errors of automated snapshots: a refused configuration (each message names its field)
//! and a failed snapshot run.

use tresor_storage::StorageError;

/// A configuration the API refuses (HTTP 400 at the http layer).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// One or more fields are missing or invalid; each message starts with the field name.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl ConfigError {
    /// One problem with `field`.
    pub fn field(field: &str, msg: impl std::fmt::Display) -> ConfigError {
        ConfigError::Invalid(vec![format!("{field}: {msg}")])
    }

    /// The messages, one per problem.
    pub fn messages(&self) -> &[String] {
        match self {
            ConfigError::Invalid(m) => m,
        }
    }
}

/// Why an automated snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AutoSnapError {
    /// The request's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading or writing the configs or their state in the barrier failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A stored record could not be decoded (or encoded).
    #[error("stored record: {0}")]
    Codec(#[from] serde_json::Error),
    /// The snapshot source failed while writing the snapshot.
    #[error("taking the snapshot: {0}")]
    Source(String),
    /// Writing, listing or deleting at the destination failed (disk, S3).
    #[error("{0}")]
    Destination(String),
    /// The snapshot would take more than `local_max_space`.
    #[error(
        "local_max_space exceeded: {used} bytes already used by earlier snapshots, limit {limit} bytes"
    )]
    SpaceExceeded {
        /// Bytes used by the kept snapshots plus what was written of this one.
        used: u64,
        /// The config's `local_max_space`.
        limit: u64,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl AutoSnapError {
    /// An I/O failure while doing `context`.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> AutoSnapError {
        AutoSnapError::Io {
            context: context.into(),
            source,
        }
    }
}
