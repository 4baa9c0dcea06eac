//! Errors of the database engine, mapped to [`LogicalError`] at the backend's edge.

use tresor_sdk::LogicalError;
use tresor_storage::StorageError;

use crate::template::TemplateError;

/// What went wrong in the database engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The request is malformed or not allowed (400).
    #[error("{0}")]
    Invalid(String),
    /// The connection could not be verified at configuration time (400).
    #[error("error verifying connection: {}", describe(.0))]
    Verify(#[source] tokio_postgres::Error),
    /// PostgreSQL refused or failed a statement, or could not be reached (500).
    #[error("database error: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// Every connection of the pool stayed busy for too long (500).
    #[error("timed out waiting for a free database connection")]
    PoolTimeout,
    /// The connection to PostgreSQL could not be opened in time (500).
    #[error("timed out connecting to the database")]
    ConnectTimeout,
    /// A username template failed (400 when configuring, 500 when issuing).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored entry did not decode (500).
    #[error("corrupt stored entry {key:?}: {source}")]
    Corrupt {
        /// The storage key.
        key: String,
        /// Why it did not decode.
        #[source]
        source: serde_json::Error,
    },
    /// Nothing is served at this path (404).
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path does not take this operation (405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// An internal invariant failed (500).
    #[error("{0}")]
    Internal(String),
}

/// PostgreSQL's own message (`ERROR: ... (SQLSTATE 42710)`) when the server sent one, else
/// the client's error with its cause (tokio-postgres alone says just "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl DbError {
    /// Shorthand for [`DbError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        DbError::Invalid(msg.into())
    }
}

impl From<DbError> for LogicalError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid(_) | DbError::Verify(_) | DbError::Template(_) => {
                LogicalError::InvalidRequest(e.to_string())
            }
            DbError::Storage(s) => LogicalError::Storage(s),
            DbError::UnsupportedPath => LogicalError::UnsupportedPath,
            DbError::UnsupportedOperation => LogicalError::UnsupportedOperation,
            other => LogicalError::Internal(other.to_string()),
        }
    }
}
